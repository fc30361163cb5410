import type { ForceReleaseAudit, Store } from '@lockscope/store';

/** A release the collector saw end as a plain delete is looked for this long before giving up. */
const GIVE_UP_AFTER_MS = 5 * 60_000;
/** At start, releases this recent are looked at again (the collector may have been down for them). */
const LOOKBACK_MS = 10 * 60_000;

/**
 * Turns `lockctl release` into force_released ends. A force-release deletes the lock the
 * way its holder would, so the source reports a plain release (or, if the collector was
 * down, an unknown end); the audit record lockctl writes says who really ended it. This
 * reads new audit records (by primary key, every pollMs) and marks the stored hold.
 * Reading the audit rather than the backend works for every source kind, and for records
 * lockctl spooled while the store was down and shipped later.
 */
export class ForceReleaseFollower {
  private timer: NodeJS.Timeout | null = null;
  private cursor: bigint | null = null;
  private pending: ForceReleaseAudit[] = [];
  private polling: Promise<void> | null = null;
  private failing = false;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
    private readonly pollMs = 1_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = null));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      const now = this.now();
      for (const audit of await this.store.listForceReleases(this.cursor, LOOKBACK_MS, now)) {
        this.cursor = audit.id;
        this.pending.push(audit);
      }
      const left: ForceReleaseAudit[] = [];
      for (const audit of this.pending) {
        if (await this.store.markForceReleased(audit)) continue;
        // Not stored yet (still buffered), or never observed by this collector.
        if (now - audit.at < GIVE_UP_AFTER_MS) left.push(audit);
      }
      this.pending = left;
      this.failing = false;
    } catch (error) {
      // The store is down: the batcher reports that; say it here once and try again next poll.
      if (!this.failing) this.log(`collector: cannot read force-release audit records yet (${this.store.explain(error)}); retrying`);
      this.failing = true;
    }
  }
}
