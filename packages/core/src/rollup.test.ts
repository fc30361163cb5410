import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLockscopeError } from './errors.js';
import { bucketizeRollups, bucketOf, hourBucketOf, MAX_CHART_BUCKETS, RollupAccumulator, RollupTier, summarizeRollups, type RollupRow } from './rollup.js';
import { LatencySketch } from './sketch.js';

const MIN = 60_000;
const T0 = 1_700_000_040_000; // a minute start

function acc(bucket = T0, lockId = 'lock-1'): RollupAccumulator {
  return new RollupAccumulator({ lockId, bucket, source: 'etcd-main' });
}

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function within1pct(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(expected * 0.01 + 1e-9);
}

describe('bucketOf', () => {
  it('gives the start of the minute', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(59_999)).toBe(0);
    expect(bucketOf(60_000)).toBe(60_000);
    expect(bucketOf(T0 + 59_999)).toBe(T0);
    expect(bucketOf(-1)).toBe(-60_000);
  });
});

describe('RollupAccumulator', () => {
  it('toRow has exactly the columns of model Rollup in prisma/schema.prisma', () => {
    const schema = readFileSync(new URL('../../../prisma/schema.prisma', import.meta.url), 'utf8');
    const body = /model Rollup \{([\s\S]*?)\n\}/.exec(schema)![1]!;
    const columns = body
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[a-zA-Z]/.test(l))
      .map((l) => l.split(/\s+/)[0]);
    const row = acc().toRow();
    expect(Object.keys(row).sort()).toEqual([...columns].sort());
    expect(typeof row.bucket).toBe('bigint');
    expect(row.bucket).toBe(BigInt(T0));
  });

  it('counts acquisitions; only observable waits enter the latency sketch; waits > 0 count as waited', () => {
    const a = acc();
    a.recordAcquisition(null);
    a.recordAcquisition(null);
    a.recordAcquisition(0);
    a.recordAcquisition(250);
    a.recordAcquisition(1_000);
    const row = a.toRow();
    expect(row).toMatchObject({ acquisitions: 5, waitedAcquisitions: 2 });
    const sketch = LatencySketch.fromBytes(row.acqLatencySketch!);
    expect(sketch.count).toBe(3);
    within1pct(sketch.quantile(1)!, 1_000);
  });

  it('leaves the latency sketch null when latency is not observable (never a 0)', () => {
    const a = acc();
    a.recordAcquisition(null);
    a.recordHoldEnd(500, 'released');
    const row = a.toRow();
    expect(row.acquisitions).toBe(1);
    expect(row.acqLatencySketch).toBeNull();
    expect(row.holdTimeSketch).not.toBeNull();
    expect(acc().toRow()).toMatchObject({ acqLatencySketch: null, holdTimeSketch: null });
  });

  it('counts ends by reason; holds that ended unseen stay out of the hold-time sketch', () => {
    const a = acc();
    a.recordHoldEnd(100, 'released');
    a.recordHoldEnd(200, 'force_released');
    a.recordHoldEnd(30_000, 'expired');
    a.recordHoldEnd(9e9, 'unknown');
    const row = a.toRow();
    expect(row).toMatchObject({ releases: 2, expirations: 1 });
    const hold = LatencySketch.fromBytes(row.holdTimeSketch!);
    expect(hold.count).toBe(3);
    within1pct(hold.quantile(1)!, 30_000);
  });

  it('samples waiters (max, sum, samples) and counts near-expiries', () => {
    const a = acc();
    for (const n of [0, 3, 1, 2]) a.sampleWaiters(n);
    a.sampleWaiters(-1);
    a.sampleWaiters(Number.NaN);
    a.recordNearExpiry();
    a.recordNearExpiry();
    expect(a.toRow()).toMatchObject({ waitersMax: 3, waitersSum: 6, waitersSamples: 4, nearExpiries: 2 });
  });

  it('round-trips through a row, including rows as raw SQL returns them (number bucket, Buffer)', () => {
    const a = acc();
    a.recordAcquisition(12);
    a.recordAcquisition(null);
    a.recordHoldEnd(4_000, 'expired');
    a.sampleWaiters(2);
    a.recordNearExpiry();
    const row = a.toRow();
    expect(RollupAccumulator.fromRow(row).toRow()).toEqual(row);
    const raw = {
      ...row,
      bucket: Number(row.bucket),
      acqLatencySketch: Buffer.from(row.acqLatencySketch!),
      holdTimeSketch: Buffer.from(row.holdTimeSketch!),
    };
    expect(RollupAccumulator.fromRow(raw).toRow()).toEqual(row);
  });

  it('merges flushes of the same minute (in memory or read back) like one accumulator', () => {
    const whole = acc();
    const part1 = acc();
    const part2 = acc();
    const waits = [0, 5, 80, 1_200, null, 33];
    waits.forEach((w, i) => {
      whole.recordAcquisition(w);
      (i % 2 ? part1 : part2).recordAcquisition(w);
    });
    whole.sampleWaiters(4);
    part2.sampleWaiters(4);
    whole.recordHoldEnd(70, 'released');
    part1.recordHoldEnd(70, 'released');
    const merged = acc().merge(part1).merge(part2.toRow());
    expect(merged.toRow()).toEqual(whole.toRow());
    expect(() => acc(T0, 'lock-1').merge(acc(T0 + MIN, 'lock-1'))).toThrow(/Cannot merge/);
    expect(() => acc(T0, 'lock-1').merge(acc(T0, 'lock-2'))).toThrow(/Cannot merge/);
  });

  it('knows when it is empty, and refuses a bucket that is not a minute start', () => {
    const a = acc();
    expect(a.isEmpty()).toBe(true);
    a.sampleWaiters(0);
    expect(a.isEmpty()).toBe(false);
    expect(() => acc(T0 + 1)).toThrow(/start a minute/);
  });
});

/** A lock's minutes of traffic: rows as the collector would write them, plus the raw values. */
function traffic(minutes: number, lockId = 'lock-1'): { rows: RollupRow[]; waits: number[]; holds: number[] } {
  const rows: RollupRow[] = [];
  const waits: number[] = [];
  const holds: number[] = [];
  let x = 7;
  const next = () => (x = (x * 48_271) % 2_147_483_647) / 2_147_483_647;
  for (let m = 0; m < minutes; m++) {
    const a = acc(T0 + m * MIN, lockId);
    for (let i = 0; i < 40; i++) {
      const wait = next() < 0.3 ? 0 : 1 + next() * 2_000;
      waits.push(wait);
      a.recordAcquisition(wait);
      const held = 50 + next() * 20_000;
      holds.push(held);
      a.recordHoldEnd(held, next() < 0.1 ? 'expired' : 'released');
      a.sampleWaiters(Math.floor(next() * 5));
    }
    rows.push(a.toRow());
  }
  return { rows, waits, holds };
}

describe('summarizeRollups', () => {
  it('merges sketches over a range: quantiles match the raw values within 1 %', () => {
    const { rows, waits, holds } = traffic(30);
    const s = summarizeRollups(rows);
    expect(s.acquisitions).toBe(1_200);
    expect(s.releases + s.expirations).toBe(1_200);
    expect(s.acqLatency!.count).toBe(1_200);
    for (const [q, key] of [[0.5, 'p50'], [0.95, 'p95'], [0.99, 'p99']] as const) {
      within1pct(s.acqLatency![key], exactQuantile(waits, q));
      within1pct(s.holdTime![key], exactQuantile(holds, q));
    }
    expect(s.waitedShare).toBeCloseTo(waits.filter((w) => w > 0).length / waits.length, 12);
    expect(s.waitersMax).toBe(4);
    expect(s.waitersMean).toBeGreaterThan(1);
    expect(s.waitersMean).toBeLessThan(3);
  });

  it('reports latency as not observable (null) when no row has a sketch, not as zeros', () => {
    const rows = [0, 1, 2].map((m) => {
      const a = acc(T0 + m * MIN);
      a.recordAcquisition(null);
      a.recordHoldEnd(1_000, 'released');
      return a.toRow();
    });
    const s = summarizeRollups(rows);
    expect(s.acquisitions).toBe(3);
    expect(s.acqLatency).toBeNull();
    expect(s.waitedShare).toBeNull();
    expect(s.waitersMax).toBeNull();
    expect(s.waitersMean).toBeNull();
    expect(s.holdTime).toMatchObject({ count: 3 });
  });

  it('takes the waited share over acquisitions whose latency was observable', () => {
    const a = acc();
    a.recordAcquisition(null);
    a.recordAcquisition(null);
    a.recordAcquisition(0);
    a.recordAcquisition(40);
    expect(summarizeRollups([a.toRow()]).waitedShare).toBe(0.5);
  });

  it('summarises nothing as zero counts and null distributions', () => {
    expect(summarizeRollups([])).toEqual({
      acquisitions: 0,
      waitedAcquisitions: 0,
      waitedShare: null,
      releases: 0,
      expirations: 0,
      nearExpiries: 0,
      waitersMax: null,
      waitersMean: null,
      acqLatency: null,
      holdTime: null,
    });
  });

  it('names the row whose stored sketch is unreadable', () => {
    const a = acc();
    a.recordAcquisition(5);
    const row = { ...a.toRow(), acqLatencySketch: new Uint8Array([0x0a, 0x40, 0x01]) };
    let thrown: unknown;
    try {
      summarizeRollups([row]);
    } catch (error) {
      thrown = error;
    }
    expect(isLockscopeError(thrown, 'INTERNAL')).toBe(true);
    expect((thrown as Error).message).toContain(`lock lock-1 at bucket ${T0}`);
  });

  it('merges several locks (a fleet view) the same as their raw values', () => {
    const a = traffic(5, 'lock-a');
    const b = traffic(5, 'lock-b');
    const s = summarizeRollups([...a.rows, ...b.rows]);
    expect(s.acquisitions).toBe(400);
    within1pct(s.acqLatency!.p95, exactQuantile([...a.waits, ...b.waits], 0.95));
  });
});

describe('bucketizeRollups', () => {
  it('gives one summary per step, empty steps included, rows outside the range ignored', () => {
    const { rows } = traffic(10);
    const before = acc(T0 - MIN);
    before.recordAcquisition(5);
    const chart = bucketizeRollups([before.toRow(), ...rows], T0, T0 + 15 * MIN, 5 * MIN);
    expect(chart.map((c) => [c.start, c.end])).toEqual([
      [T0, T0 + 5 * MIN],
      [T0 + 5 * MIN, T0 + 10 * MIN],
      [T0 + 10 * MIN, T0 + 15 * MIN],
    ]);
    expect(chart.map((c) => c.acquisitions)).toEqual([200, 200, 0]);
    expect(chart[2]!.acqLatency).toBeNull();
    expect(chart[2]!.holdTime).toBeNull();
    // Each step equals summarising its own rows.
    expect(chart[1]).toEqual({ start: T0 + 5 * MIN, end: T0 + 10 * MIN, ...summarizeRollups(rows.slice(5, 10)) });
  });

  it('clamps the last step to the end of the range', () => {
    const chart = bucketizeRollups([], T0, T0 + 150_000, MIN);
    expect(chart).toHaveLength(3);
    expect(chart[2]!.end).toBe(T0 + 150_000);
  });

  it('refuses bad ranges and steps with a clear error', () => {
    const bad: Array<[number, number, number]> = [
      [T0, T0, MIN],
      [T0 + MIN, T0, MIN],
      [T0, T0 + MIN, 0],
      [T0, T0 + MIN, -5],
      [T0, Number.NaN, MIN],
      [0, (MAX_CHART_BUCKETS + 1) * MIN, MIN],
    ];
    for (const [from, to, step] of bad) {
      let thrown: unknown;
      try {
        bucketizeRollups([], from, to, step);
      } catch (error) {
        thrown = error;
      }
      expect(isLockscopeError(thrown, 'BAD_REQUEST'), `${from}..${to} step ${step}`).toBe(true);
    }
  });
});

describe('RollupTier', () => {
  const HOUR = 3_600_000;
  const t0 = 1_795_000_000_000 - (1_795_000_000_000 % HOUR);

  it('keeps one accumulator per lock and bucket, writes the changed ones, and drops closed buckets once written', () => {
    const hours = new RollupTier('hour');
    expect(hours.bucketOf(t0 + 59 * 60_000)).toBe(t0);
    expect(hourBucketOf(t0 + HOUR)).toBe(t0 + HOUR);
    const a = hours.accumulator('lock-a', 's', hours.bucketOf(t0 + 1_000));
    a.recordAcquisition(5);
    hours.dirty.add(a);
    // The same lock later in the hour lands in the same accumulator.
    const again = hours.accumulator('lock-a', 's', hours.bucketOf(t0 + 30 * 60_000));
    expect(again).toBe(a);
    again.recordAcquisition(7);
    const written: number[] = [];
    // Still inside the hour: written, kept.
    expect(hours.flush(false, t0 + 40 * 60_000, (acc) => written.push(acc.toRow().acquisitions))).toBe(0);
    expect(written).toEqual([2]);
    expect(hours.size).toBe(1);
    // Nothing changed since: nothing written; the hour has closed: dropped.
    expect(hours.flush(false, t0 + HOUR, (acc) => written.push(acc.toRow().acquisitions))).toBe(1);
    expect(written).toEqual([2]);
    expect(hours.size).toBe(0);
  });

  it('writes only the accumulators a flush says are due; the others stay changed, and a closed bucket stays until written', () => {
    const minutes = new RollupTier('minute');
    const a = minutes.accumulator('lock-a', 's', t0);
    const b = minutes.accumulator('lock-b', 's', t0);
    for (const acc of [a, b]) {
      acc.recordAcquisition(1);
      minutes.dirty.add(acc);
    }
    const written: string[] = [];
    const write = (acc: RollupAccumulator) => written.push(acc.toRow().lockId);
    // The minute has closed, but lock-b is not due yet: lock-a is written and dropped, lock-b kept.
    expect(minutes.flush(false, t0 + 60_000, write, (acc) => acc.lockId === 'lock-a')).toBe(1);
    expect(written).toEqual(['lock-a']);
    expect(minutes.size).toBe(1);
    expect(minutes.flush(false, t0 + 61_000, write, (acc) => acc.lockId === 'lock-b')).toBe(1);
    expect(written).toEqual(['lock-a', 'lock-b']);
    expect(minutes.size).toBe(0);
  });

  it('continues a bucket restored from the store instead of starting it again', () => {
    const minutes = new RollupTier('minute');
    const stored = new RollupAccumulator({ lockId: 'lock-a', bucket: t0, source: 's' });
    stored.recordAcquisition(3);
    minutes.restore(RollupAccumulator.fromRow(stored.toRow()));
    const acc = minutes.accumulator('lock-a', 's', minutes.bucketOf(t0 + 10_000));
    acc.recordAcquisition(4);
    expect(acc.toRow().acquisitions).toBe(2);
  });
});
