/**
 * One setTimeout for any number of deadlines: a binary min-heap of (dueAt, key).
 * Re-scheduling a key replaces its deadline; stale heap entries are skipped
 * lazily. Cost grows with the number of schedule() calls, not with the number
 * of holds times a polling rate.
 */
export class TimerQueue {
  private heap: { dueAt: number; key: string; version: number }[] = [];
  private current = new Map<string, number>();
  private versions = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDueAt = Infinity;
  private stopped = false;

  constructor(
    private readonly onDue: (key: string, dueAt: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.current.size;
  }

  schedule(key: string, dueAt: number): void {
    if (this.stopped) return;
    const version = ++this.versions;
    this.current.set(key, version);
    this.push({ dueAt, key, version });
    if (dueAt < this.timerDueAt) this.arm();
  }

  cancel(key: string): void {
    this.current.delete(key);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.heap = [];
    this.current.clear();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDueAt = Infinity;
    const top = this.heap[0];
    if (!top || this.stopped) return;
    this.timerDueAt = top.dueAt;
    // Timers are capped so a far deadline does not overflow setTimeout's 32-bit delay.
    const delay = Math.min(Math.max(0, top.dueAt - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = null;
    this.timerDueAt = Infinity;
    const now = this.now();
    for (;;) {
      const top = this.heap[0];
      if (!top || top.dueAt > now) break;
      this.pop();
      if (this.current.get(top.key) !== top.version) continue;
      this.current.delete(top.key);
      this.onDue(top.key, top.dueAt);
      if (this.stopped) return;
    }
    this.arm();
  }

  private push(item: { dueAt: number; key: string; version: number }): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.dueAt <= h[i]!.dueAt) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
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
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
}
