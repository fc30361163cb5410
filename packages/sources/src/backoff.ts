import { ExponentialBackoff, type IBackoff } from 'cockatiel';

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Reconnects: soon after a blip (100 ms), at most every 5 s during a long outage. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000 };

/**
 * The one backoff policy of the sources: cockatiel's exponential backoff with
 * decorrelated jitter, as a counter a reconnect loop can step and reset
 * (cockatiel's own retry() wraps one call, which a long-lived stream is not).
 */
export class Backoff {
  private readonly factory: ExponentialBackoff<unknown>;
  private current: IBackoff<unknown> | null = null;

  constructor(policy: BackoffPolicy = RECONNECT_BACKOFF) {
    this.factory = new ExponentialBackoff({ initialDelay: policy.initialMs, maxDelay: policy.maxMs });
  }

  /** The delay before the next attempt (grows until reset()). */
  next(): number {
    this.current = this.current ? this.current.next(undefined) : this.factory.next();
    return Math.round(this.current.duration);
  }

  /** An attempt succeeded: the next failure starts again from the shortest delay. */
  reset(): void {
    this.current = null;
  }
}
