// The open-loop schedule both load generators share: acquisitions are sent at the
// requested rate measured from the start (a generator that was starved of CPU
// catches up instead of silently sending less), each held for holdMs, then
// released by its holder. Every token carries its send time ("<prefix><ms>-<seq>"),
// which is how the benchmark measures lag from acquisition to stored row.

export interface LockClient {
  /** Tries to take `key` with `token`; true when taken. */
  acquire(key: string, token: string): Promise<boolean>;
  /** Releases `key` only if it still holds `token`. */
  release(key: string, token: string): Promise<void>;
  close(): Promise<void>;
}

export interface LoadOptions {
  /** Acquisitions per second to send. */
  rate: number;
  seconds: number;
  /** Distinct lock names, used round-robin. */
  locks: number;
  holdMs: number;
  /** Acquisitions started but not yet released; beyond it the generator waits. */
  maxInFlight: number;
  keyOf(index: number): string;
  /** Starts every token ("b" when not given); tells the benchmark's warm-up and measured runs apart. */
  tokenPrefix?: string;
}

export interface LoadResult {
  /** Acquisitions attempted. */
  sent: number;
  /** Acquisitions that took the lock (and were released after holdMs). */
  ok: number;
  /** Tries refused because the lock was still held from an earlier round. */
  busy: number;
}

const TICK_MS = 5;

export async function runLoad(client: LockClient, options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { sent: 0, ok: 0, busy: 0 };
  let inFlight = 0;
  let failure: unknown = null;
  const started = performance.now();
  const endAt = started + options.seconds * 1000;
  const total = Math.floor(options.rate * options.seconds);
  const prefix = options.tokenPrefix ?? 'b';

  const one = async (seq: number) => {
    const key = options.keyOf(seq % options.locks);
    const token = `${prefix}${Date.now()}-${seq}`;
    if (!(await client.acquire(key, token))) {
      result.busy++;
      return;
    }
    result.ok++;
    await new Promise((resolve) => setTimeout(resolve, options.holdMs));
    await client.release(key, token);
  };

  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((options.rate * (now - started)) / 1000));
      while (result.sent < due && inFlight < options.maxInFlight && failure === null) {
        inFlight++;
        one(result.sent++)
          .catch((error: unknown) => (failure ??= error))
          .finally(() => inFlight--);
      }
      // What could not be sent by the end is not sent late: the achieved rate says so.
      if (failure !== null || now >= endAt) {
        clearInterval(tick);
        resolve();
      }
    }, TICK_MS);
  });
  while (inFlight > 0 && failure === null) await new Promise((resolve) => setTimeout(resolve, 10));
  await client.close();
  if (failure !== null) throw failure;
  return result;
}

/** The generators' positional arguments: endpoint, rate/s, seconds, locks, hold ms and an optional token prefix. */
export function loadArgs(argv: string[]): { target: string; rate: number; seconds: number; locks: number; holdMs: number; tokenPrefix: string } {
  const [target, rate, seconds, locks, holdMs, tokenPrefix = 'b'] = argv;
  const nums = [rate, seconds, locks, holdMs].map(Number);
  if (!target || nums.some((n) => !Number.isFinite(n) || n < 0) || !/^[a-z]$/.test(tokenPrefix)) {
    throw new Error('usage: <endpoint> <rate/s> <seconds> <locks> <hold ms> [token prefix: one letter]');
  }
  return { target, rate: nums[0]!, seconds: nums[1]!, locks: nums[2]!, holdMs: nums[3]!, tokenPrefix };
}
