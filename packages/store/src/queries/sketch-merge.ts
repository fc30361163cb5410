import { LatencySketch, type QuantileSummary } from '@lockscope/core';

/**
 * Merges the stored sketches of many rollup rows (core's LatencySketch codec)
 * and answers quantiles: null when nothing was recorded, never 0 ms. A row
 * whose bytes do not decode is counted in `corrupt` and left out, so one bad
 * row does not take a whole page down.
 */
export class MergedSketch {
  private sketch: LatencySketch | null = null;
  corrupt = 0;

  add(bytes: Uint8Array | null | undefined): void {
    if (!bytes || bytes.byteLength === 0) return;
    try {
      // Decoded straight into the running sketch; bad bytes leave it unchanged.
      (this.sketch ??= new LatencySketch()).mergeBytes(bytes);
    } catch {
      this.corrupt += 1;
    }
  }

  /** Adds everything `other` holds; `other` stays as it is. */
  merge(other: MergedSketch): void {
    this.corrupt += other.corrupt;
    if (other.sketch) (this.sketch ??= new LatencySketch()).merge(other.sketch);
  }

  /** Quantiles in core's shape; null when nothing was recorded. */
  summary(): QuantileSummary | null {
    if (!this.sketch || this.sketch.count === 0) return null;
    return { p50: this.quantile(0.5)!, p95: this.quantile(0.95)!, p99: this.quantile(0.99)!, count: this.sketch.count };
  }

  get count(): number {
    return this.sketch?.count ?? 0;
  }

  quantile(q: number): number | null {
    const v = this.sketch?.quantile(q) ?? null;
    return v === null ? null : Math.round(v * 100) / 100;
  }
}
