/**
 * Deadlines by key in a binary min-heap; re-scheduling a key replaces its
 * deadline and stale entries are skipped lazily. Lets the alert engine and the
 * collector's timers look only at the locks whose time has come instead of
 * scanning every lock.
 */
export class DueHeap {
  private heap: { dueAt: number; key: string; version: number }[] = [];
  private readonly current = new Map<string, number>();
  private versions = 0;

  schedule(key: string, dueAt: number): void {
    const version = ++this.versions;
    this.current.set(key, version);
    const h = this.heap;
    h.push({ dueAt, key, version });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.dueAt <= h[i]!.dueAt) break;
      // A temporary, not a destructuring swap: V8 allocated an array per swap here
      // (the collector's allocation profile put 5% of all its bytes in this heap).
      const t = h[parent]!;
      h[parent] = h[i]!;
      h[i] = t;
      i = parent;
    }
  }

  cancel(key: string): void {
    this.current.delete(key);
  }

  /** Earliest live deadline, or null. */
  peek(): number | null {
    this.dropStale();
    return this.heap[0]?.dueAt ?? null;
  }

  /** Keys with a live deadline. */
  get size(): number {
    return this.current.size;
  }

  clear(): void {
    this.heap = [];
    this.current.clear();
  }

  /** Removes and returns every key due at or before `at`, earliest first, with its deadline. */
  takeDue(at: number): { key: string; dueAt: number }[] {
    const out: { key: string; dueAt: number }[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.dueAt > at) break;
      this.pop();
      this.current.delete(top.key);
      out.push({ key: top.key, dueAt: top.dueAt });
    }
    return out;
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.current.get(this.heap[0]!.key) !== this.heap[0]!.version) this.pop();
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.dueAt < h[m]!.dueAt) m = l;
      if (r < h.length && h[r]!.dueAt < h[m]!.dueAt) m = r;
      if (m === i) break;
      const t = h[m]!;
      h[m] = h[i]!;
      h[i] = t;
      i = m;
    }
  }
}
