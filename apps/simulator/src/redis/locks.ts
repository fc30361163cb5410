import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  REDISSON_FAIR_CANCEL,
  REDISSON_FAIR_LOCK,
  REDISSON_FAIR_UNLOCK,
  REDISSON_FENCED_LOCK,
  REDISSON_LOCK,
  REDISSON_RENEW,
  REDISSON_UNLOCK,
  SETNX_RELEASE,
  SETNX_RENEW,
} from './scripts.js';

/** The classic single-instance Redis lock: SET NX PX with a random token, compare-then-act renew and release. */
export class SetNxLock {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly ttlMs: number,
  ) {}

  async tryAcquire(token: string): Promise<boolean> {
    return (await this.redis.set(this.key, token, 'PX', this.ttlMs, 'NX')) === 'OK';
  }

  async renew(token: string): Promise<boolean> {
    return Number(await this.redis.eval(SETNX_RENEW, 1, this.key, token, String(this.ttlMs))) === 1;
  }

  async release(token: string): Promise<boolean> {
    return Number(await this.redis.eval(SETNX_RELEASE, 1, this.key, token)) === 1;
  }
}

export interface RedissonOptions {
  /** RFairLock: FIFO queue and timeout set beside the hash. */
  fair?: boolean;
  /** RFencedLock: INCR redisson_lock_token:{name} on every acquisition. */
  fenced?: boolean;
  /** lockWatchdogTimeout (Redisson default 30 s). */
  leaseMs?: number;
  /** How long a queued fair waiter is kept without retrying (Redisson default 5 s). */
  threadWaitMs?: number;
}

export type TryLockResult = { acquired: true; token: bigint | null } | { acquired: false; waitMs: number };

/** One Redisson client (a JVM's connection manager) has one UUID; its threads are numbered. */
export function redissonClientId(): string {
  return randomUUID();
}

/** A Redisson RLock/RFairLock/RFencedLock as one Java thread would use it. */
export class RedissonLock {
  readonly holderId: string;
  readonly queueKey: string;
  readonly timeoutKey: string;
  readonly tokenKey: string;
  readonly channel: string;
  readonly leaseMs: number;
  private readonly fair: boolean;
  private readonly fenced: boolean;
  private readonly threadWaitMs: number;

  constructor(
    private readonly redis: Redis,
    readonly name: string,
    clientUuid: string,
    threadId: number,
    options: RedissonOptions = {},
  ) {
    this.holderId = `${clientUuid}:${threadId}`;
    this.queueKey = `redisson_lock_queue:{${name}}`;
    this.timeoutKey = `redisson_lock_timeout:{${name}}`;
    this.tokenKey = `redisson_lock_token:{${name}}`;
    this.channel = `redisson_lock__channel:{${name}}`;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.fair = options.fair ?? false;
    this.fenced = options.fenced ?? false;
    this.threadWaitMs = options.threadWaitMs ?? 5_000;
  }

  async tryLock(): Promise<TryLockResult> {
    const lease = String(this.leaseMs);
    if (this.fair) {
      const r = await this.redis.eval(REDISSON_FAIR_LOCK, 3, this.name, this.queueKey, this.timeoutKey, lease, this.holderId, String(this.threadWaitMs), String(Date.now()));
      return r === null ? { acquired: true, token: null } : { acquired: false, waitMs: Number(r) };
    }
    if (this.fenced) {
      const [pttl, token] = (await this.redis.eval(REDISSON_FENCED_LOCK, 2, this.name, this.tokenKey, lease, this.holderId)) as [number, number];
      return Number(pttl) === -1 ? { acquired: true, token: BigInt(token) } : { acquired: false, waitMs: Number(pttl) };
    }
    const r = await this.redis.eval(REDISSON_LOCK, 1, this.name, lease, this.holderId);
    return r === null ? { acquired: true, token: null } : { acquired: false, waitMs: Number(r) };
  }

  /** The watchdog's PEXPIRE; false once the hash no longer has our field. */
  async renew(): Promise<boolean> {
    return Number(await this.redis.eval(REDISSON_RENEW, 1, this.name, String(this.leaseMs), this.holderId)) === 1;
  }

  /** true: released; false: still held re-entrantly; null: it was not ours any more. */
  async unlock(): Promise<boolean | null> {
    const r = this.fair
      ? await this.redis.eval(REDISSON_FAIR_UNLOCK, 4, this.name, this.queueKey, this.timeoutKey, this.channel, '0', String(this.leaseMs), this.holderId, String(Date.now()))
      : await this.redis.eval(REDISSON_UNLOCK, 2, this.name, this.channel, '0', String(this.leaseMs), this.holderId);
    return r === null ? null : Number(r) === 1;
  }

  /** A fair waiter giving up takes itself out of the queue. */
  async cancelWait(): Promise<void> {
    if (this.fair) await this.redis.eval(REDISSON_FAIR_CANCEL, 3, this.name, this.queueKey, this.timeoutKey, this.holderId);
  }
}
