import { DDSketch } from '@datadog/sketches-js';
import { LockscopeError } from './errors.js';

/** Relative accuracy of every Lockscope sketch; sketches only merge with equal accuracy. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

/**
 * A mergeable latency distribution (DDSketch, 1 % relative accuracy) for
 * acquisition latency and hold time, stored per lock and minute.
 *
 * Serialisation writes the DDSketch protobuf (DDSketch.proto of sketches-js /
 * sketches-go) with our own small codec instead of the library's `toProto`,
 * because that one writes the store's padded dense array (bins grow in chunks of
 * 128 doubles: one value costs ~1 KB, five values spread over 1 ms..2.5 s ~4 KB)
 * and its `fromProto` resolves the mapping from the stored gamma with a
 * multiplier that differs in the last bits from a freshly built sketch, so new
 * values can land one bin off. Here each store is written either as the trimmed
 * contiguous range or as the sparse `binCounts` map, whichever is smaller, and
 * decoding always rebuilds the canonical mapping. The library's own decoder
 * reads only the contiguous form, so use `LatencySketch.fromBytes` to read these.
 */
export class LatencySketch {
  private readonly sketch: DDSketch;

  constructor() {
    this.sketch = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
  }

  /** Number of values recorded. */
  get count(): number {
    return this.sketch.count;
  }

  /**
   * Record a duration in ms. Negative durations (a wall clock stepping back)
   * count as 0; NaN and infinities are not durations and are refused (returns false).
   */
  add(ms: number): boolean {
    if (!Number.isFinite(ms)) return false;
    this.sketch.accept(Math.max(0, ms));
    return true;
  }

  /** Fold another sketch into this one (the other is left unchanged). */
  merge(other: LatencySketch): this {
    this.sketch.merge(other.sketch);
    return this;
  }

  /** The value at quantile q in [0, 1] (within 1 % relative error); null when empty. */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) {
      throw new LockscopeError('BAD_REQUEST', `A quantile must be between 0 and 1, got ${q}.`);
    }
    if (this.sketch.count === 0) return null;
    return Math.max(0, this.sketch.getValueAtQuantile(q));
  }

  toBytes(): Uint8Array {
    const w = writer.reset();
    const mapping = w.beginMessage(1);
    w.double(1, this.sketch.mapping.gamma);
    w.double(2, 0);
    // interpolation NONE (= 0) is the proto default and is not written
    w.endMessage(mapping);
    const store = w.beginMessage(2);
    writeStore(w, this.sketch.store);
    w.endMessage(store);
    // Durations are never negative: the negative store stays empty.
    w.endMessage(w.beginMessage(3));
    if (this.sketch.zeroCount > 0) w.double(4, this.sketch.zeroCount);
    return w.finish();
  }

  static fromBytes(bytes: Uint8Array): LatencySketch {
    return new LatencySketch().mergeBytes(bytes);
  }

  /**
   * Folds the sketch serialised in `bytes` into this one without building an
   * intermediate sketch: what the dashboard does for thousands of rollup rows per
   * request. The bytes are decoded and checked first, so bad bytes throw
   * BAD_REQUEST and leave this sketch unchanged.
   */
  mergeBytes(bytes: Uint8Array): this {
    let zero: number;
    try {
      zero = decode(bytes, this.sketch.mapping.gamma);
    } catch (error) {
      if (error instanceof LockscopeError) throw error;
      throw new LockscopeError('BAD_REQUEST', 'These bytes are not a DDSketch protobuf (truncated or corrupt).', { cause: error });
    }
    applyDecoded(this.sketch, zero);
    return this;
  }

  /** Merge any number of sketches (absent ones skipped); null when none was given. */
  static mergeAll(sketches: Iterable<LatencySketch | null | undefined>): LatencySketch | null {
    let acc: LatencySketch | null = null;
    for (const s of sketches) {
      if (!s) continue;
      acc ??= new LatencySketch();
      acc.merge(s);
    }
    return acc;
  }
}

interface DenseStoreView {
  bins: number[];
  count: number;
  minKey: number;
  maxKey: number;
  offset: number;
}

function writeStore(w: ProtoWriter, store: DenseStoreView): void {
  if (store.count === 0) return;
  let nonZero = 0;
  for (let key = store.minKey; key <= store.maxKey; key++) if ((store.bins[key - store.offset] ?? 0) !== 0) nonZero++;
  const span = store.maxKey - store.minKey + 1;
  // Sparse entry: tag + len + key (tag + <=5 varint) + value (tag + 8) = at most 17 bytes.
  if (nonZero * 17 < span * 8) {
    for (let key = store.minKey; key <= store.maxKey; key++) {
      const c = store.bins[key - store.offset] ?? 0;
      if (c === 0) continue;
      const entry = w.beginMessage(1);
      w.sint32(1, key);
      w.double(2, c);
      w.endMessage(entry);
    }
  } else {
    w.packedDoubles(2, store.bins, store.minKey - store.offset, span);
    w.sint32(3, store.minKey);
  }
}

// Scratch for the bins of the sketch being decoded: reused across calls, so
// merging thousands of rows allocates nothing per bin.
let scratchKeys = new Int32Array(256);
let scratchWeights = new Float64Array(256);
let scratchLength = 0;

function pushBin(key: number, weight: number): void {
  if (scratchLength === scratchKeys.length) {
    const keys = new Int32Array(scratchLength * 2);
    keys.set(scratchKeys);
    scratchKeys = keys;
    const weights = new Float64Array(scratchLength * 2);
    weights.set(scratchWeights);
    scratchWeights = weights;
  }
  scratchKeys[scratchLength] = key;
  scratchWeights[scratchLength] = weight;
  scratchLength++;
}

/** Decodes and checks `bytes` into the scratch bins; returns the zero count. Throws on anything invalid. */
function decode(bytes: Uint8Array, gamma: number): number {
  scratchLength = 0;
  const r = new ProtoReader(bytes, 0, bytes.length);
  let mappingSeen = false;
  let zero = 0;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === 2) {
      mappingSeen = true;
      checkMapping(r.sub(), gamma);
    } else if (field === 2 && wire === 2) {
      readStore(r.sub(), pushBin);
    } else if (field === 3 && wire === 2) {
      let negative = 0;
      readStore(r.sub(), (_key, weight) => (negative += weight));
      if (negative > 0) throw new LockscopeError('BAD_REQUEST', 'This sketch holds negative durations, which Lockscope never records.');
    } else if (field === 4 && wire === 1) {
      zero = r.double();
    } else {
      r.skip(wire);
    }
  }
  if (!mappingSeen) throw new LockscopeError('BAD_REQUEST', 'This DDSketch protobuf has no index mapping.');
  if (!(zero >= 0) || !Number.isFinite(zero)) throw new LockscopeError('BAD_REQUEST', 'This DDSketch protobuf has an invalid zero count.');
  return zero;
}

/** Adds the scratch bins and `zero` to the sketch. */
function applyDecoded(sketch: DDSketch, zero: number): void {
  const n = scratchLength;
  const before = sketch.store.count;
  if (n > 0) {
    // The dense store re-centres its array every time a key widens its range; adding the
    // extreme keys first sizes it once instead of once per bin
    // (merging a day of minute rows: ~400 ms before, ~30-80 ms after).
    let lo = 0;
    let hi = 0;
    for (let i = 1; i < n; i++) {
      if (scratchKeys[i]! < scratchKeys[lo]!) lo = i;
      if (scratchKeys[i]! > scratchKeys[hi]!) hi = i;
    }
    sketch.store.add(scratchKeys[lo]!, scratchWeights[lo]!);
    if (hi !== lo) sketch.store.add(scratchKeys[hi]!, scratchWeights[hi]!);
    for (let i = 0; i < n; i++) if (i !== lo && i !== hi) sketch.store.add(scratchKeys[i]!, scratchWeights[i]!);
  }
  sketch.zeroCount += zero;
  sketch.count += sketch.store.count - before + zero;
}

function checkMapping(r: ProtoReader, gamma: number): void {
  let g = 0;
  let offset = 0;
  let interpolation = 0;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === 1) g = r.double();
    else if (field === 2 && wire === 1) offset = r.double();
    else if (field === 3 && wire === 0) interpolation = r.varint();
    else r.skip(wire);
  }
  if (Math.abs(g - gamma) > 1e-9 || offset !== 0 || interpolation !== 0) {
    throw new LockscopeError(
      'BAD_REQUEST',
      `This sketch uses another index mapping (gamma ${g}, offset ${offset}, interpolation ${interpolation}); Lockscope sketches are logarithmic with 1 % accuracy.`,
    );
  }
}

function readStore(r: ProtoReader, add: (key: number, weight: number) => void): void {
  const contiguous: number[] = [];
  let contiguousOffset = 0;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === 2) {
      const e = r.sub();
      let key = 0;
      let weight = 0;
      while (!e.done()) {
        const [f, w] = e.tag();
        if (f === 1 && w === 0) key = e.sint32();
        else if (f === 2 && w === 1) weight = e.double();
        else e.skip(w);
      }
      addChecked(add, key, weight);
    } else if (field === 2 && wire === 2) {
      const p = r.sub();
      while (!p.done()) contiguous.push(p.double());
    } else if (field === 2 && wire === 1) {
      contiguous.push(r.double());
    } else if (field === 3 && wire === 0) {
      contiguousOffset = r.sint32();
    } else {
      r.skip(wire);
    }
  }
  contiguous.forEach((weight, i) => addChecked(add, contiguousOffset + i, weight));
}

function addChecked(add: (key: number, weight: number) => void, key: number, weight: number): void {
  if (weight === 0) return;
  if (!(weight > 0) || !Number.isFinite(weight)) {
    throw new LockscopeError('BAD_REQUEST', `This sketch has an invalid bin count (${weight}).`);
  }
  // Keys of durations between 1 ns and ~3 years stay well inside +-5000 at 1 % accuracy;
  // anything far outside would make the dense store allocate without bound.
  if (Math.abs(key) > 100_000) {
    throw new LockscopeError('BAD_REQUEST', `This sketch has a bin key out of range (${key}).`);
  }
  add(key, weight);
}

/**
 * Minimal protobuf writer: only what DDSketch.proto needs. It writes into one
 * buffer reused by every toBytes call (the collector serialises every active
 * lock's sketches every few seconds), and sub-messages in place: a one-byte
 * length is reserved and the body moved on the rare occasion it needs more.
 */
class ProtoWriter {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  reset(): this {
    this.pos = 0;
    return this;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private varint(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  private rawDouble(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  double(field: number, value: number): void {
    this.tag(field, 1);
    this.rawDouble(value);
  }

  sint32(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  /** `count` doubles of `values` from `start` (missing ones as 0), packed. */
  packedDoubles(field: number, values: readonly number[], start: number, count: number): void {
    this.tag(field, 2);
    this.varint(count * 8);
    for (let i = 0; i < count; i++) this.rawDouble(values[start + i] ?? 0);
  }

  /** Starts a length-delimited field; returns where its body starts, for endMessage. */
  beginMessage(field: number): number {
    this.tag(field, 2);
    this.ensure(1);
    this.pos += 1;
    return this.pos;
  }

  endMessage(bodyStart: number): void {
    const length = this.pos - bodyStart;
    let extra = 0;
    for (let v = length >>> 7; v > 0; v >>>= 7) extra++;
    if (extra > 0) {
      this.ensure(extra);
      this.buf.copyWithin(bodyStart + extra, bodyStart, this.pos);
      this.pos += extra;
    }
    let at = bodyStart - 1;
    let v = length;
    while (v > 0x7f) {
      this.buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

const writer = new ProtoWriter();

class ProtoReader {
  private pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
    view?: DataView,
  ) {
    this.pos = start;
    // Sub-messages share their parent's view: one per decoded sketch, not one per field.
    this.view = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
    return result >>> 0;
  }

  sint32(): number {
    const n = this.varint();
    return (n >>> 1) ^ -(n & 1);
  }

  tag(): [number, number] {
    const t = this.varint();
    return [t >>> 3, t & 7];
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new Error('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  sub(): ProtoReader {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error('truncated message');
    const r = new ProtoReader(this.buf, this.pos, this.pos + len, this.view);
    this.pos += len;
    return r;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.advance(this.varint());
    else if (wire === 5) this.advance(4);
    else throw new Error(`unsupported wire type ${wire}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('truncated field');
    this.pos += n;
  }
}
