// Lock traffic with ground truth for the fault-injection suite: every acquisition
// and release made through real client code (ioredis; npm etcd3), logged with the
// holder value, the fencing token, when, and how the hold ended, so that the
// checker can compare it with what the collector stored.
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type Lease } from 'etcd3';
import { Redis } from 'ioredis';

export type Backend = 'redis' | 'etcd';

/**
 * How a hold ended, as its client saw it:
 * - released: the holder's compare-and-delete removed it;
 * - gone: the holder found it no longer theirs (the server lost it: Redis SHUTDOWN NOSAVE);
 * - open: still held when the run ended (the driver always releases, so a bug in the driver);
 * - force_released: `lockctl release` took it from its holder (set by the test that ran lockctl).
 */
export type ClientEnd = 'released' | 'gone' | 'open' | 'force_released';

export interface TruthHold {
  backend: Backend;
  lock: string;
  /** The value the holder wrote: unique per acquisition, what the collector reports as holder. */
  holder: string;
  /** etcd: create_revision of the key (the fencing token); Redis: none. */
  token: string | null;
  /** Client wall clock when the acquisition was confirmed. */
  acquiredAt: number;
  /** Client wall clock when the end was confirmed (null while open). */
  endedAt: number | null;
  end: ClientEnd;
}

/** An acquisition whose reply was lost: it may or may not have taken the lock. */
export interface AmbiguousAttempt {
  backend: Backend;
  lock: string;
  holder: string;
  at: number;
  error: string;
}

export interface DriverStats {
  attempts: number;
  acquired: number;
  busy: number;
  /** Attempts refused by the client before reaching the server (server down). */
  refused: number;
  ambiguous: number;
  releaseErrors: number;
}

export interface DriverOptions {
  /** Acquisitions per second. */
  rate: number;
  locks: number;
  holdMs: number;
  /**
   * Every so many acquisitions (spread pseudo-randomly, about 1 in `longHoldEvery`) is
   * held `longHoldMs` instead: holds that span a fault's instant, whose ends the
   * collector may not see. 0 turns them off.
   */
  longHoldEvery?: number;
  longHoldMs?: number;
  /** Names the tokens so runs never collide: "<runId>-<seq>". */
  runId: string;
  /** Bound on acquisitions in flight; beyond it the driver waits. */
  maxInFlight?: number;
}

interface LockClient {
  readonly backend: Backend;
  keyOf(index: number): string;
  /** Acquires or returns null when held by someone else; throws when the outcome is unknown. */
  acquire(key: string, holder: string): Promise<{ token: string | null } | null>;
  /** Whether `holder` holds `key` now (after an ambiguous acquire); null when that cannot be told either. */
  holds(key: string, holder: string): Promise<{ token: string | null } | null | undefined>;
  /** True when the holder's own compare-and-delete removed it; false when it was no longer theirs. */
  release(key: string, hold: TruthHold): Promise<boolean>;
  close(): Promise<void>;
}

/** The error ioredis raises for a command it did not send (offline queue disabled, connection down). */
function neverSent(error: unknown): boolean {
  return /enableOfflineQueue|Stream isn't writeable/i.test(error instanceof Error ? error.message : String(error));
}

/** Redis unreachable or the connection dropped (as opposed to a Redis error reply). */
function connectionError(error: unknown): boolean {
  return neverSent(error) || /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE/i.test(error instanceof Error ? error.message : String(error));
}

/**
 * Plain Redis locks as client libraries take them: `SET key value NX PX ttl`,
 * released by a Lua compare-and-delete. The offline queue and resends are off so
 * that a command either reached the server or failed without being sent: the
 * ground truth must not contain acquisitions replayed behind the test's back.
 */
export function redisClient(url: string, { ttlMs = 10_000 } = {}): LockClient {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
    lazyConnect: false,
  });
  redis.on('error', () => undefined); // reconnects by itself; failures show up per command
  redis.defineCommand('compareAndDelete', {
    numberOfKeys: 1,
    lua: "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
  });
  const cad = (key: string, holder: string) =>
    (redis as unknown as { compareAndDelete(k: string, v: string): Promise<number> }).compareAndDelete(key, holder);
  return {
    backend: 'redis',
    keyOf: (i) => `lock:fault:${i}`,
    async acquire(key, holder) {
      try {
        return (await redis.set(key, holder, 'PX', ttlMs, 'NX')) === 'OK' ? { token: null } : null;
      } catch (error) {
        if (neverSent(error)) throw Object.assign(new Error('not sent'), { notSent: true });
        throw error;
      }
    },
    // A SET whose reply was lost when the server went down may have existed for an instant
    // before the server lost every key: nothing the client can read tells, so it stays ambiguous.
    holds: async () => undefined,
    async release(key, hold) {
      return (await cad(key, hold.holder)) === 1;
    },
    async close() {
      redis.disconnect();
    },
  };
}

/**
 * Single-key etcd locks as the npm etcd3 `Lock` takes them: a transaction that
 * puts the key with a lease only if it does not exist (create_revision == 0).
 * Unlike `Lock`, the value is the holder's token (so the collector reports a
 * holder to compare) and one session lease serves all holds (as a service's
 * session does), instead of a lease granted and revoked per hold. Release is a
 * transaction deleting the key only while its create_revision is ours.
 */
export async function etcdClient(endpoints: string[]): Promise<LockClient> {
  // etcd3's default breaker (open 5 s after 3 failures per host) opened on every member
  // during the leader election after a member kill and failed releases for over 10 s;
  // a client that keeps trying is what a service holding a lock would want here.
  const client = new Etcd3({
    hosts: endpoints,
    dialTimeout: 2_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 3_000 }),
    faultHandling: {
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) }),
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(5) }),
    },
  });
  const lease: Lease = client.lease(60, { autoKeepAlive: true });
  lease.on('lost', () => undefined); // a member kill may drop one keepalive; the lease outlives it
  const leaseId = await lease.grant();
  const ownedBy = (kvs: { value: Buffer; create_revision: string }[] | undefined, holder: string) => {
    const kv = kvs?.[0];
    return kv && kv.value.toString() === holder ? { token: kv.create_revision } : null;
  };
  return {
    backend: 'etcd',
    keyOf: (i) => `/locks/fault/lock-${i}`,
    async acquire(key, holder) {
      const result = await client
        .if(key, 'Create', '==', 0)
        .then(client.put(key).value(holder).lease(leaseId))
        .else(client.get(key))
        .commit();
      if (result.succeeded) return { token: result.header.revision };
      // A retried transaction whose first attempt committed finds the key as ours.
      return ownedBy(result.responses[0]?.response_range?.kvs, holder);
    },
    async holds(key, holder) {
      try {
        const res = await client.get(key).exec();
        return ownedBy(res.kvs, holder);
      } catch {
        return undefined;
      }
    },
    // Nobody else deletes these keys and the session lease outlives the run, so a failed
    // compare means an earlier attempt of ours (or etcd3's own retry of this one, whose
    // first reply was lost in a leader change) already deleted it: released either way.
    async release(key, hold) {
      await client
        .if(key, 'Create', '==', hold.token!)
        .then(client.delete().key(key))
        .commit();
      return true;
    },
    async close() {
      await lease.revoke().catch(() => undefined);
      client.close();
    },
  };
}

export type LockClientHandle = LockClient;

/**
 * Open-loop traffic: acquisitions at `rate`/s measured from the start, round-robin
 * over `locks` keys, each held `holdMs` then released by its holder. A release that
 * fails (server unreachable) is retried for up to 30 s, since the hold would
 * otherwise stay until its lease ends. Bounded: at most `maxInFlight` at once, and
 * stop() ends it.
 */
export class LoadDriver {
  readonly holds: TruthHold[] = [];
  readonly ambiguous: AmbiguousAttempt[] = [];
  readonly stats: DriverStats = { attempts: 0, acquired: 0, busy: 0, refused: 0, ambiguous: 0, releaseErrors: 0 };
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private seq = 0;
  private startedAt = 0;
  /** Client failures other than the ones a fault explains (reported; the test fails on them). */
  readonly errors: string[] = [];
  private stopped = false;
  private readonly wakers = new Set<() => void>();

  constructor(
    readonly client: LockClient,
    private readonly options: DriverOptions,
  ) {}

  get backend(): Backend {
    return this.client.backend;
  }

  start(): void {
    this.startedAt = performance.now();
    const maxInFlight = this.options.maxInFlight ?? 400;
    this.timer = setInterval(() => {
      const due = Math.floor((this.options.rate * (performance.now() - this.startedAt)) / 1000);
      // Behind by more than a second (the process starved): skip rather than burst.
      if (due - this.seq > this.options.rate) this.seq = due - this.options.rate;
      while (this.seq < due && this.inFlight < maxInFlight) {
        const seq = this.seq++;
        this.inFlight++;
        this.one(seq)
          .catch((error: unknown) => this.errors.push(`${this.backend}: ${(error as Error).message}`))
          .finally(() => this.inFlight--);
      }
    }, 5);
  }

  /** Stops new acquisitions and waits for every hold to be released. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const wake of [...this.wakers]) wake();
    const deadline = Date.now() + 45_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.client.close();
    if (this.inFlight > 0) throw new Error(`${this.backend} load driver: ${this.inFlight} holds still in flight 45 s after stop`);
  }

  /**
   * Takes lock `locks + index` (outside the round-robin set) and holds it until stop()
   * or `ms`: a hold that stays put long enough for an operator's `lockctl release`.
   * Resolves with its ground-truth record once acquired (null when it was not).
   */
  async holdLong(index: number, ms: number): Promise<TruthHold | null> {
    const key = this.client.keyOf(this.options.locks + index);
    const holder = `${this.options.runId}-${this.backend === 'redis' ? 'r' : 'e'}long${index}`;
    let taken: (hold: TruthHold | null) => void = () => undefined;
    const result = new Promise<TruthHold | null>((resolve) => (taken = resolve));
    this.inFlight++;
    this.holdOnce(key, holder, () => ms, taken)
      .catch((error: unknown) => this.errors.push(`${this.backend}: ${(error as Error).message}`))
      .finally(() => {
        this.inFlight--;
        taken(null);
      });
    return result;
  }

  private one(seq: number): Promise<void> {
    const { longHoldEvery = 0, longHoldMs = 2_000 } = this.options;
    // Knuth's multiplicative hash spreads the long holds over locks and time.
    const long = longHoldEvery > 0 && (Math.imul(seq, 2654435761) >>> 0) < 0x1_0000_0000 / longHoldEvery;
    return this.holdOnce(this.client.keyOf(seq % this.options.locks), `${this.options.runId}-${this.backend === 'redis' ? 'r' : 'e'}${seq}`, () =>
      long ? longHoldMs : this.options.holdMs,
    );
  }

  /** A wait that stop() cuts short (so that long holds do not hold up the end of a run). */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private async holdOnce(key: string, holder: string, holdMs: () => number, onAcquired?: (hold: TruthHold) => void): Promise<void> {
    this.stats.attempts++;
    let acquired: { token: string | null } | null | undefined;
    try {
      acquired = await this.client.acquire(key, holder);
    } catch (error) {
      if ((error as { notSent?: boolean }).notSent) {
        this.stats.refused++;
        return;
      }
      // The reply was lost: ask whether it took the lock (for up to 15 s while the backend
      // recovers); if that cannot be told, it stays ambiguous.
      const askUntil = Date.now() + 15_000;
      acquired = await this.client.holds(key, holder);
      while (acquired === undefined && this.backend === 'etcd' && Date.now() < askUntil) {
        await new Promise((r) => setTimeout(r, 250));
        acquired = await this.client.holds(key, holder);
      }
      if (acquired === undefined) {
        this.stats.ambiguous++;
        this.ambiguous.push({ backend: this.backend, lock: key, holder, at: Date.now(), error: (error as Error).message });
        return;
      }
    }
    if (!acquired) {
      this.stats.busy++;
      return;
    }
    this.stats.acquired++;
    const hold: TruthHold = { backend: this.backend, lock: key, holder, token: acquired.token, acquiredAt: Date.now(), endedAt: null, end: 'open' };
    this.holds.push(hold);
    onAcquired?.(hold);
    await this.wait(holdMs());
    const releaseDeadline = Date.now() + 30_000;
    for (;;) {
      try {
        const released = await this.client.release(key, hold);
        if (hold.end === 'force_released') return;
        hold.endedAt = Date.now();
        hold.end = released ? 'released' : 'gone';
        return;
      } catch (error) {
        this.stats.releaseErrors++;
        // Redis lost every key on SHUTDOWN NOSAVE: the hold is gone with the server.
        if (hold.end === 'force_released') return;
        if (this.backend === 'redis' && connectionError(error)) {
          hold.endedAt = Date.now();
          hold.end = 'gone';
          return;
        }
        if (Date.now() > releaseDeadline) {
          // Left held: the store should show it held too (the checker expects "held").
          this.errors.push(`${this.backend} release of ${key} (${holder}) kept failing for 30 s: ${(error as Error).message}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
