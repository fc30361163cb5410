/**
 * A renewal loop (Redisson's watchdog, a SET NX holder's PEXPIRE timer) that a
 * worker can freeze, the way a GC pause freezes it, and that always stops
 * without leaving a timer behind. `renew` returning false means the lock is
 * no longer ours; the loop then ends by itself.
 */
export class RenewalLoop {
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private stopped = false;
  private lostFlag = false;
  renewals = 0;

  constructor(
    private readonly everyMs: number,
    private readonly renew: () => Promise<boolean>,
  ) {
    this.schedule();
  }

  get lost(): boolean {
    return this.lostFlag;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.paused) return this.schedule();
      this.renew().then(
        (ok) => {
          if (ok) this.renewals++;
          else this.lostFlag = true;
          if (ok) this.schedule();
        },
        // A failed round trip is not a lost lock; the next tick tries again.
        () => this.schedule(),
      );
    }, this.everyMs);
  }
}
