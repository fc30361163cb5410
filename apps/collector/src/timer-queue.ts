import { DueHeap } from '@lockscope/core';

/**
 * One setTimeout for any number of deadlines, over core's DueHeap.
 * Re-scheduling a key replaces its deadline. Cost grows with the number of
 * schedule() calls, not with the number of holds times a polling rate.
 */
export class TimerQueue {
  private readonly due = new DueHeap();
  private timer: NodeJS.Timeout | null = null;
  private timerDueAt = Infinity;
  private stopped = false;

  constructor(
    private readonly onDue: (key: string, dueAt: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.due.size;
  }

  schedule(key: string, dueAt: number): void {
    if (this.stopped) return;
    this.due.schedule(key, dueAt);
    if (dueAt < this.timerDueAt) this.arm();
  }

  cancel(key: string): void {
    this.due.cancel(key);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.due.clear();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDueAt = Infinity;
    const next = this.due.peek();
    if (next === null || this.stopped) return;
    this.timerDueAt = next;
    // Capped so a far deadline does not overflow setTimeout's 32-bit delay.
    const delay = Math.min(Math.max(0, next - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = null;
    this.timerDueAt = Infinity;
    for (const { key, dueAt } of this.due.takeDue(this.now())) {
      this.onDue(key, dueAt);
      if (this.stopped) return;
    }
    this.arm();
  }
}
