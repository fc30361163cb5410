import { createRequire } from 'node:module';
import { DDSketch } from '@datadog/sketches-js';
import { seededRandom } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';
import { isLockscopeError } from './errors.js';
import { LatencySketch, SKETCH_RELATIVE_ACCURACY } from './sketch.js';

// The library's generated protobuf classes, to prove our bytes are the real DDSketch format.
const proto = createRequire(import.meta.url)('@datadog/sketches-js/dist/ddsketch/proto/compiled') as {
  DDSketch: { decode(bytes: Uint8Array): { positiveValues: { binCounts: Record<string, number>; contiguousBinCounts: number[] }; zeroCount: number } };
};

function latencies(n: number, seed: number): number[] {
  const r = seededRandom(seed);
  // Log-uniform from 0.1 ms to 60 s: the range lock waits and holds really span.
  return Array.from({ length: n }, () => 0.1 * Math.pow(600_000, r()));
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function sketchOf(values: number[]): LatencySketch {
  const s = new LatencySketch();
  for (const v of values) s.add(v);
  return s;
}

const QS = [0, 0.25, 0.5, 0.9, 0.95, 0.99, 1];

describe('LatencySketch', () => {
  it('is empty at first: count 0 and no quantile (not 0)', () => {
    const s = new LatencySketch();
    expect(s.count).toBe(0);
    expect(s.quantile(0.5)).toBeNull();
    expect(s.quantile(0.99)).toBeNull();
  });

  it('answers quantiles within 1 % relative error', () => {
    const values = latencies(20_000, 1);
    const s = sketchOf(values);
    const sorted = [...values].sort((a, b) => a - b);
    expect(s.count).toBe(values.length);
    for (const q of QS) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(s.quantile(q)! - exact) / exact).toBeLessThanOrEqual(SKETCH_RELATIVE_ACCURACY + 1e-9);
    }
  });

  it('merging sketches of the parts equals the sketch of the whole', () => {
    const values = latencies(9_000, 2);
    const whole = sketchOf(values);
    const parts = [values.slice(0, 10), values.slice(10, 4000), values.slice(4000)].map(sketchOf);
    const merged = LatencySketch.mergeAll(parts)!;
    expect(merged.count).toBe(whole.count);
    for (const q of QS) expect(merged.quantile(q)).toBe(whole.quantile(q));
    // Merging does not change the merged-in sketches.
    expect(parts[0]!.count).toBe(10);
  });

  it('merges in any order and through serialised bytes with the same result', () => {
    const values = latencies(3_000, 3);
    const a = sketchOf(values.slice(0, 1000));
    const b = sketchOf(values.slice(1000, 2000));
    const c = sketchOf(values.slice(2000));
    const abc = new LatencySketch().merge(a).merge(b).merge(c);
    const cba = new LatencySketch().merge(c).merge(b).merge(a);
    const viaBytes = LatencySketch.mergeAll([a, b, c].map((s) => LatencySketch.fromBytes(s.toBytes())))!;
    for (const q of QS) {
      expect(cba.quantile(q)).toBe(abc.quantile(q));
      expect(viaBytes.quantile(q)).toBe(abc.quantile(q));
    }
  });

  it('merges serialised bytes straight into a running sketch, the same as decoding then merging', () => {
    const parts = [0, 1, 2, 3].map((i) => sketchOf(latencies(700, 20 + i)));
    parts.push(sketchOf([0, 0, 0.0001])); // zero bucket and a tiny value
    const direct = new LatencySketch();
    for (const p of parts) direct.mergeBytes(p.toBytes());
    const viaMerge = LatencySketch.mergeAll(parts)!;
    expect(direct.count).toBe(viaMerge.count);
    for (const q of QS) expect(direct.quantile(q)).toBe(viaMerge.quantile(q));
    expect(Array.from(direct.toBytes())).toEqual(Array.from(viaMerge.toBytes()));
  });

  it('leaves a running sketch unchanged when the bytes to merge are corrupt', () => {
    const running = sketchOf(latencies(300, 30));
    const before = Array.from(running.toBytes());
    const good = sketchOf(latencies(300, 31)).toBytes();
    // A whole valid sketch followed by a truncated tag: its bins decode before the damage is found, and none may land.
    expect(() => running.mergeBytes(Uint8Array.from([...good, 0x80]))).toThrow(/not a DDSketch protobuf/);
    expect(Array.from(running.toBytes())).toEqual(before);
  });

  it('round-trips through bytes exactly, and the decoded sketch keeps accepting values in the same bins', () => {
    const values = latencies(5_000, 4);
    const s = sketchOf(values);
    const back = LatencySketch.fromBytes(s.toBytes());
    expect(back.count).toBe(s.count);
    for (const q of QS) expect(back.quantile(q)).toBe(s.quantile(q));
    const more = latencies(500, 5);
    for (const v of more) {
      back.add(v);
      s.add(v);
    }
    for (const q of QS) expect(back.quantile(q)).toBe(s.quantile(q));
    expect(Array.from(back.toBytes())).toEqual(Array.from(s.toBytes()));
  });

  it('round-trips the empty sketch and zero durations', () => {
    const empty = LatencySketch.fromBytes(new LatencySketch().toBytes());
    expect(empty.count).toBe(0);
    expect(empty.quantile(0.5)).toBeNull();

    const zeros = sketchOf([0, 0, 0, 250]);
    const back = LatencySketch.fromBytes(zeros.toBytes());
    expect(back.count).toBe(4);
    expect(back.quantile(0.5)).toBe(0);
    expect(back.quantile(1)).toBeCloseTo(250, -1);
  });

  it('counts negative durations (clock stepped back) as 0 and refuses NaN and infinities', () => {
    const s = new LatencySketch();
    expect(s.add(-40)).toBe(true);
    expect(s.add(Number.NaN)).toBe(false);
    expect(s.add(Number.POSITIVE_INFINITY)).toBe(false);
    expect(s.count).toBe(1);
    expect(s.quantile(1)).toBe(0);
  });

  it('keeps a sketch small: a single value is tens of bytes, not the library default ~1 KB', () => {
    const one = sketchOf([1234]);
    const lib = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    lib.accept(1234);
    expect(one.toBytes().length).toBeLessThan(64);
    expect(lib.toProto().length).toBeGreaterThan(1000);
    // A dense distribution is written as one contiguous range, no larger than the library's.
    const dense = latencies(50_000, 6);
    const libDense = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (const v of dense) libDense.accept(v);
    expect(sketchOf(dense).toBytes().length).toBeLessThanOrEqual(libDense.toProto().length);
  });

  it('writes the DDSketch protobuf: the library decodes our bytes and we decode the library bytes', () => {
    const values = latencies(2_000, 7).concat([0, 0]);
    const ours = sketchOf(values);
    const lib = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (const v of values) lib.accept(v);

    // Library bytes -> our decoder.
    const fromLib = LatencySketch.fromBytes(lib.toProto());
    expect(fromLib.count).toBe(values.length);
    for (const q of QS) expect(fromLib.quantile(q)).toBe(ours.quantile(q));

    // Our dense bytes -> the library's own decoder.
    const libBack = DDSketch.fromProto(ours.toBytes());
    expect(libBack.count).toBe(values.length);
    // The library rebuilds its mapping from gamma with a last-bits different multiplier.
    for (const q of QS) {
      const want = ours.quantile(q)!;
      expect(Math.abs(libBack.getValueAtQuantile(q) - want)).toBeLessThanOrEqual(want * 1e-12);
    }

    // Our sparse bytes -> the library's generated protobuf classes see the same bins.
    const sparse = sketchOf([3, 3, 900, 45_000]);
    const decoded = proto.DDSketch.decode(sparse.toBytes());
    const counts = Object.values(decoded.positiveValues.binCounts);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(4);
    expect(counts.sort()).toEqual([1, 1, 2]);
    expect(decoded.positiveValues.contiguousBinCounts).toEqual([]);
  });

  it('refuses bytes that are not a Lockscope sketch with a clear error, never a crash', () => {
    const good = sketchOf(latencies(100, 8)).toBytes();
    const cases: Uint8Array[] = [
      good.subarray(0, good.length - 3), // truncated
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // runaway varint
      new Uint8Array([]), // no mapping at all
      new Uint8Array(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)), // noise
    ];
    const otherAccuracy = new DDSketch({ relativeAccuracy: 0.05 });
    otherAccuracy.accept(5);
    cases.push(otherAccuracy.toProto());
    for (const bytes of cases) {
      let thrown: unknown;
      try {
        LatencySketch.fromBytes(bytes);
      } catch (error) {
        thrown = error;
      }
      expect(isLockscopeError(thrown, 'BAD_REQUEST'), `bytes ${Buffer.from(bytes).toString('hex')}`).toBe(true);
    }
  });

  it('rejects a quantile outside [0, 1]', () => {
    const s = sketchOf([1]);
    expect(() => s.quantile(1.5)).toThrow(/between 0 and 1/);
    expect(() => s.quantile(Number.NaN)).toThrow(/between 0 and 1/);
  });
});
