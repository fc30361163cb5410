import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  displayKey,
  LockscopeError,
  isLockscopeError,
  type Dialect,
  type EndCause,
  type HoldObservation,
  type LiveLock,
  type LockObservation,
  type RedisSourceConfig,
  type WaiterObservation,
} from '@lockscope/core';
import type { LeaseCheck, LockSource, ObservationSink, ReleaseRequest, ReleaseResult, SourceHealth, WatchOptions } from '../source.js';
import { createRedisClient, redactRedisUrl, redisDbFromUrl } from './redis-client.js';
import {
  estimateGrantedTtl,
  keyCandidates,
  recogniseLock,
  redissonCompanionName,
  redissonKey,
  redisGlobMatch,
  REDISSON_CHANNEL_PREFIX,
  REDISSON_QUEUE_PREFIX,
  REDISSON_RWLOCK_CHANNEL_PREFIX,
  REDISSON_TIMEOUT_PREFIX,
  REDISSON_TOKEN_PREFIX,
  type RawLockState,
  type RecognisedLock,
} from './redis-dialect.js';

export interface RedisSourceOptions {
  /** Wall clock (ms); tests pass their own. */
  now?: () => number;
  /** How long one-shot calls wait for a connection before SOURCE_UNREACHABLE. */
  connectTimeoutMs?: number;
}

/** Flags the source needs: keyspace channel, generic (del/expire), string, hash, expired, evicted, list, zset. */
const NEEDED_FLAGS = ['g', '$', 'h', 'x', 'e', 'l', 'z'];
/** What `A` stands for in notify-keyspace-events. */
const ALL_ALIAS = 'g$lshzxetd';
/**
 * The setting the source asks for. `K` (keyspace channel) only: `E` would make Redis
 * publish every event a second time on a keyevent channel the source never reads.
 */
export const SUGGESTED_NOTIFY_FLAGS = 'Kg$hlzxe';

/** Events that (re)grant a hold's TTL: the PTTL read right after them is the grant. */
const GRANT_EVENTS = new Set(['set', 'expire', 'hset', 'hincrby', 'restore', 'rename_to', 'copy_to']);
const END_CAUSES: Record<string, EndCause> = { del: 'released', expired: 'expired', evicted: 'unknown' };
/** Events only a hash (Redisson) key produces. */
const HASH_EVENTS = new Set(['hset', 'hincrby', 'hdel']);
/** Events that create a lock key that did not exist. */
const CREATE_EVENTS = new Set(['set', 'hset', 'hincrby', 'restore', 'rename_to', 'copy_to']);
/** Holder shown for a hold whose value was gone before it could be read. */
export const UNREAD_HOLDER = '(unread: released before it could be read)';

const SCAN_COUNT = 1000;
const FETCH_BATCH = 500;
const MAX_FETCHES_IN_FLIGHT = 2;

/** Redisson's LockPubSub.UNLOCK_MESSAGE (a Long 0, written as text by LongCodec). */
const REDISSON_UNLOCK_MESSAGE = '0';

/**
 * Compare-and-delete of exactly the observed hold. Returns 1 released,
 * 0 gone, -1 a different hold. For Redisson it also publishes what Redisson's
 * own forceUnlock publishes, so waiters parked on the channel wake up.
 */
const RELEASE_SCRIPT = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return 0 end
if ARGV[2] == 'string' then
  if t ~= 'string' then return -1 end
  local v = redis.call('GET', KEYS[1])
  if ARGV[3] == 'sha1' then
    if redis.sha1hex(v) ~= ARGV[1] then return -1 end
  elseif v ~= ARGV[1] then return -1 end
  redis.call('DEL', KEYS[1])
  return 1
end
if t ~= 'hash' then return -1 end
local expected = {}
for f in string.gmatch(ARGV[1], '[^,]+') do
  expected[f] = true
  if redis.call('HEXISTS', KEYS[1], f) == 0 then return -1 end
end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if f ~= 'mode' and not expected[f] then return -1 end
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[4])
local nextWaiter = redis.call('LINDEX', KEYS[3], 0)
if nextWaiter then redis.call('PUBLISH', KEYS[2] .. ':' .. nextWaiter, ARGV[4]) end
return 1
`;

/** Is the hold identified by ARGV[1] still there; returns {exists, pttl}. */
const CHECK_LEASE_SCRIPT = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then
  local v = redis.call('GET', KEYS[1])
  local ok
  if ARGV[2] == 'sha1' then ok = redis.sha1hex(v) == ARGV[1] else ok = v == ARGV[1] end
  if ok then return {1, redis.call('PTTL', KEYS[1])} end
elseif t == 'hash' then
  for f in string.gmatch(ARGV[1], '[^,]+') do
    if redis.call('HEXISTS', KEYS[1], f) == 0 then return {0, -2} end
  end
  return {1, redis.call('PTTL', KEYS[1])}
end
return {0, -2}
`;

interface Tracked {
  dialect: RecognisedLock['dialect'];
  holdId: string | null;
  ttlMs: number | null;
  renewedAt: number | null;
  /** Read-only once stored (NO_WAITERS is shared). */
  waiterSince: ReadonlyMap<string, number | null>;
}

const NO_WAITERS: ReadonlyMap<string, number | null> = new Map();

interface PendingFetch {
  key: Buffer;
  /** key as hex: the key of this.pending, this.inFlight and this.tracked. */
  hex: string;
  events: string[];
  /** Receipt time of the first coalesced notification. */
  at: number;
  /** Receipt time of the last grant event (set/expire...), null when none. */
  grantAt: number | null;
  /** Monotonic ms of the first and the last grant notification, for measuring how old a PTTL read is. */
  firstMono: number;
  grantMono: number | null;
}

interface FetchedLock {
  key: Buffer;
  state: RawLockState;
  lock: RecognisedLock;
}

export function createRedisSource(config: RedisSourceConfig, options: RedisSourceOptions = {}): LockSource {
  return new RedisLockSource(config, options);
}

class RedisLockSource implements LockSource {
  readonly kind = 'redis' as const;
  readonly name: string;
  private readonly config: RedisSourceConfig;
  private readonly now: () => number;
  private readonly connectTimeoutMs: number;
  private readonly safeUrl: string;
  private readonly channelPrefix: Buffer;
  /** config.patterns as bytes, matched against every notification's key. */
  private readonly patternBytes: Buffer[];
  private cmd: Redis | null = null;
  private sub: Redis | null = null;
  private sink: ObservationSink | null = null;
  private watching = false;
  private stopped = false;
  private seq = 0n;
  private readonly tracked = new Map<string, Tracked>();
  private readonly pending = new Map<string, PendingFetch>();
  private readonly inFlight = new Set<string>();
  private flushTimer: NodeJS.Immediate | null = null;
  private fetchesInFlight = 0;
  private resyncRunning: Promise<void> | null = null;
  private resyncAgain = false;
  private probeListener: ((channel: Buffer, message: Buffer) => void) | null = null;
  private readonly state: SourceHealth;

  constructor(config: RedisSourceConfig, options: RedisSourceOptions) {
    this.config = config;
    this.name = config.name;
    this.now = options.now ?? Date.now;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.safeUrl = redactRedisUrl(config.url);
    this.channelPrefix = Buffer.from(`__keyspace@${redisDbFromUrl(config.url)}__:`, 'latin1');
    this.patternBytes = config.patterns.map((pattern) => Buffer.from(pattern, 'utf8'));
    this.state = {
      name: config.name,
      kind: 'redis',
      connected: false,
      lastError: null,
      lastEventAt: null,
      lastSeenAt: null,
      version: null,
      notifications: null,
    };
  }

  health(): SourceHealth {
    return { ...this.state };
  }

  // ---------------------------------------------------------------- clients

  private command(): Redis {
    if (this.cmd === null) {
      this.cmd = createRedisClient(this.config.url, {
        connectionName: `lockscope:${this.name}`,
        connectTimeoutMs: this.connectTimeoutMs,
        onError: (error) => this.recordError(this.unreachableMessage(error)),
      });
      this.cmd.defineCommand('lockscopeFetch', { lua: FETCH_LUA });
    }
    return this.cmd;
  }

  private subscriber(): Redis {
    if (this.sub === null) {
      const sub = createRedisClient(this.config.url, {
        connectionName: `lockscope:${this.name}:notifications`,
        connectTimeoutMs: this.connectTimeoutMs,
        onError: (error) => this.recordError(this.unreachableMessage(error)),
      });
      sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => this.onKeyspaceEvent(channel, message));
      sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.probeListener?.(channel, message));
      this.sub = sub;
    }
    return this.sub;
  }

  /** Waits until `client` is ready, connecting it if needed; SOURCE_UNREACHABLE otherwise. */
  private async ready(client: Redis): Promise<Redis> {
    if (client.status === 'ready') return client;
    if (client.status === 'wait' || client.status === 'end') {
      try {
        await withTimeout(client.connect(), this.connectTimeoutMs + 1_000);
      } catch (error) {
        // A first connect that fails is not retried in the background: the next call starts afresh.
        client.disconnect();
        if (this.cmd === client) this.cmd = null;
        if (this.sub === client) this.sub = null;
        throw this.unreachable(error);
      }
    } else {
      await new Promise<void>((resolve, reject) => {
        const settle = (error: Error | null) => {
          clearTimeout(timer);
          client.off('ready', onReady);
          client.off('end', onEnd);
          if (error) reject(this.unreachable(error));
          else resolve();
        };
        const timer = setTimeout(() => settle(new Error(`no connection within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
        const onReady = () => settle(null);
        // 'end' means the connection attempt was given up (e.g. a concurrent first connect failed).
        const onEnd = () => settle(new Error('the connection was closed'));
        client.once('ready', onReady);
        client.once('end', onEnd);
      });
    }
    this.state.lastSeenAt = this.now();
    return client;
  }

  private unreachableMessage(error: unknown): string {
    const why = error instanceof Error ? error.message : String(error);
    return `Cannot reach Redis at ${this.safeUrl} (${why}); check that the server runs and that sources[].url for "${this.name}" is right.`;
  }

  private unreachable(error: unknown): LockscopeError {
    if (isLockscopeError(error)) return error;
    const message = this.unreachableMessage(error);
    this.recordError(message);
    return new LockscopeError('SOURCE_UNREACHABLE', message, { cause: error, details: { source: this.name, url: this.safeUrl } });
  }

  /** Maps a failed call: connection trouble is SOURCE_UNREACHABLE, a refusal by the server is SOURCE_MISCONFIGURED. */
  private failure(error: unknown, what: string): LockscopeError {
    if (isLockscopeError(error)) return error;
    if (error instanceof Error && error.name === 'ReplyError') {
      const message = `Redis at ${this.safeUrl} refused ${what}: ${error.message}. Check the ACL of the user in sources[].url for "${this.name}".`;
      this.recordError(message);
      return new LockscopeError('SOURCE_MISCONFIGURED', message, { cause: error, details: { source: this.name, url: this.safeUrl } });
    }
    return this.unreachable(error);
  }

  private recordError(message: string): void {
    this.state.lastError = message;
    this.pushHealth();
  }

  private pushHealth(): void {
    this.sink?.health?.(this.health());
  }

  private matchesPatterns(key: Uint8Array): boolean {
    for (const pattern of this.patternBytes) if (redisGlobMatch(pattern, key)) return true;
    return false;
  }

  // ---------------------------------------------------------------- watch

  async watch({ sink }: WatchOptions): Promise<void> {
    if (this.watching) throw new LockscopeError('BAD_REQUEST', `Redis source "${this.name}" is already being watched.`);
    if (this.stopped) throw new LockscopeError('BAD_REQUEST', `Redis source "${this.name}" was stopped; create a new one.`);
    this.sink = sink;
    this.watching = true;
    const cmd = this.command();
    const sub = this.subscriber();
    try {
      await this.ready(cmd);
      await this.ready(sub);
      await this.connectedSync();
    } catch (error) {
      await this.stop();
      throw error;
    }
    // Registered after the first sync so that only reconnects resync from here.
    sub.on('ready', () => void this.requestResync());
    cmd.on('ready', () => void this.requestResync());
    for (const client of [sub, cmd]) {
      client.on('close', () => {
        if (this.stopped || !this.state.connected) return;
        this.state.connected = false;
        this.pushHealth();
      });
    }
  }

  /** Everything a (re)connect needs, in order: notifications on, subscribed, then a full resync. */
  private async connectedSync(): Promise<void> {
    const cmd = this.command();
    const sub = this.subscriber();
    await this.readVersion(cmd);
    await this.ensureNotifications(cmd, sub);
    // Re-issuing PSUBSCRIBE is idempotent; awaiting it guarantees the scan starts after it took effect.
    await sub.psubscribe(...this.channelPatterns());
    await this.resync();
    this.state.connected = true;
    this.state.lastError = null;
    this.pushHealth();
  }

  private channelPatterns(): string[] {
    const prefix = this.channelPrefix.toString('latin1');
    return [...this.config.patterns, `${REDISSON_QUEUE_PREFIX}*}`, `${REDISSON_TIMEOUT_PREFIX}*}`].map((p) => `${prefix}${p}`);
  }

  private async requestResync(): Promise<void> {
    if (this.stopped || !this.watching) return;
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return;
    }
    this.resyncRunning = (async () => {
      do {
        this.resyncAgain = false;
        try {
          await this.ready(this.command());
          await this.ready(this.subscriber());
          await this.connectedSync();
        } catch (error) {
          if (this.stopped) return;
          const failure = this.failure(error, 'the resync');
          this.recordError(failure.message);
          // A client that comes back emits 'ready' again, which brings us back here.
        }
      } while (this.resyncAgain && !this.stopped);
    })();
    try {
      await this.resyncRunning;
    } finally {
      this.resyncRunning = null;
    }
  }

  private async readVersion(cmd: Redis): Promise<void> {
    try {
      const info = await cmd.info('server');
      this.state.version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? null;
    } catch {
      this.state.version = null;
    }
  }

  private notificationsError(wanted: string, why: string): LockscopeError {
    const setting = `notify-keyspace-events ${wanted}`;
    const message =
      `Redis source "${this.name}" (${this.safeUrl}) needs keyspace notifications: add \`${setting}\` to redis.conf ` +
      `(or run CONFIG SET ${setting}); ${why}.`;
    this.state.notifications = 'off';
    this.recordError(message);
    return new LockscopeError('SOURCE_MISCONFIGURED', message, { details: { source: this.name, setting } });
  }

  /**
   * Reads notify-keyspace-events and, when allowed, adds what is missing.
   * Where CONFIG is unavailable (managed Redis), a probe key shows whether
   * notifications arrive at all.
   */
  private async ensureNotifications(cmd: Redis, sub: Redis): Promise<void> {
    let current: string | null = null;
    try {
      const reply = (await cmd.config('GET', 'notify-keyspace-events')) as string[];
      current = reply[1] ?? '';
    } catch {
      current = null;
    }
    if (current === null) {
      if (await this.probeNotifications(cmd, sub)) {
        this.state.notifications = 'on';
        return;
      }
      throw this.notificationsError(SUGGESTED_NOTIFY_FLAGS, 'CONFIG is not available to check or enable it and a probe key produced no notifications');
    }
    const has = (flag: string) => current.includes(flag) || (current.includes('A') && ALL_ALIAS.includes(flag));
    const missing = ['K', ...NEEDED_FLAGS].filter((flag) => !has(flag));
    if (missing.length === 0) {
      this.state.notifications = 'on';
      return;
    }
    const extras = [...current].filter((flag) => !SUGGESTED_NOTIFY_FLAGS.includes(flag)).join('');
    const wanted = SUGGESTED_NOTIFY_FLAGS + extras;
    const why = `it is "${current}", missing ${missing.join(' ')}`;
    if (!this.config.enableNotifications) throw this.notificationsError(wanted, `${why}, and enableNotifications is false`);
    try {
      await cmd.config('SET', 'notify-keyspace-events', wanted);
    } catch (error) {
      throw this.notificationsError(wanted, `${why}, and CONFIG SET failed (${error instanceof Error ? error.message : String(error)})`);
    }
    this.state.notifications = 'enabled-by-lockscope';
  }

  /** Writes and deletes a throwaway key and waits for its notifications. */
  private async probeNotifications(cmd: Redis, sub: Redis): Promise<boolean> {
    const probeKey = `lockscope:probe:${randomUUID()}`;
    const channel = `${this.channelPrefix.toString('latin1')}${probeKey}`;
    const seen = new Set<string>();
    let resolveAll: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (resolveAll = resolve));
    this.probeListener = (ch, message) => {
      if (ch.toString('latin1') !== channel) return;
      seen.add(message.toString('latin1'));
      if (['set', 'expire', 'del'].every((e) => seen.has(e))) resolveAll();
    };
    await sub.subscribe(channel);
    try {
      await cmd.set(probeKey, '1', 'PX', 10_000);
      await cmd.del(probeKey);
      await withTimeout(all, 1_000).catch(() => undefined);
      return ['set', 'expire', 'del'].every((e) => seen.has(e));
    } finally {
      this.probeListener = null;
      await sub.unsubscribe(channel);
    }
  }

  // ---------------------------------------------------------------- notifications

  private onKeyspaceEvent(channel: Buffer, message: Buffer): void {
    if (this.stopped) return;
    const at = this.now();
    this.state.lastEventAt = at;
    this.state.lastSeenAt = at;
    const start = this.channelPrefix.length;
    if (channel.length <= start) return;
    // Only a key ending in "}" can be a Redisson companion (queue, timeouts) of a lock.
    const companion = channel[channel.length - 1] === 0x7d ? redissonCompanionName(channel.subarray(start)) : null;
    const hex = companion ? companion.toString('hex') : channel.toString('hex', start);
    let pending = this.pending.get(hex);
    if (!pending) {
      // A key already pending or tracked passed these checks when first seen: most
      // notifications (the expire after a set, a release) skip them and the copy.
      if (!companion && !this.tracked.has(hex)) {
        const rawKey = channel.subarray(start);
        if (isRedissonAuxiliary(rawKey) || !this.matchesPatterns(rawKey)) return;
      } else if (companion && !this.tracked.has(hex) && !this.matchesPatterns(companion)) {
        return;
      }
      const key = companion ?? Buffer.from(channel.subarray(start));
      pending = { key, hex, events: [], at, grantAt: null, firstMono: performance.now(), grantMono: null };
      this.pending.set(hex, pending);
    }
    const event = message.toString('latin1');
    // Events on Redisson's companion keys (queue, timeouts) are kept apart: a
    // `del` of an emptied queue is not the end of the lock.
    pending.events.push(companion ? `companion:${event}` : event);
    if (!companion && GRANT_EVENTS.has(event)) {
      pending.grantAt = at;
      pending.grantMono = performance.now();
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null || this.stopped) return;
    this.flushTimer = setImmediate(() => {
      this.flushTimer = null;
      void this.flush();
    });
  }

  /**
   * Fetches every pending key in one script call; a key already being fetched waits for the
   * next round. At most MAX_FETCHES_IN_FLIGHT calls are out at once: under load the keys that
   * arrive meanwhile go together in the next call (one command and one write instead of one
   * per event-loop turn), and an idle source still reads a change at once.
   */
  private async flush(): Promise<void> {
    const canFetch = this.fetchesInFlight < MAX_FETCHES_IN_FLIGHT;
    const batch: PendingFetch[] = [];
    for (const [hex, pending] of this.pending) {
      if (this.inFlight.has(hex)) continue;
      if (this.endsGone(pending)) {
        // Nothing left to read: a fetch would find the key gone (a newer set has its own
        // notification on the way). Half the keys under churn are releases like this.
        this.pending.delete(hex);
        this.emitChange(pending, absentState(pending.key), performance.now());
        continue;
      }
      if (!canFetch) continue;
      this.pending.delete(hex);
      this.inFlight.add(hex);
      batch.push(pending);
    }
    if (batch.length === 0) return;
    this.fetchesInFlight += 1;
    try {
      const states = await this.fetchByScript(this.command(), batch.map((p) => p.key));
      const doneMono = performance.now();
      this.state.lastSeenAt = this.now();
      for (let i = 0; i < batch.length; i++) this.emitChange(batch[i]!, states[i]!, doneMono);
    } catch (error) {
      // Lost until the resync that follows the reconnect.
      if (!this.stopped) this.recordError(this.failure(error, 'a lock fetch').message);
    } finally {
      this.fetchesInFlight -= 1;
      for (const p of batch) this.inFlight.delete(p.hex);
      if (this.pending.size > 0) this.scheduleFlush();
    }
  }

  /**
   * Whether a plain string lock's notifications end with its key gone (del, expired,
   * evicted), so there is nothing to fetch. Hash (Redisson) locks are always fetched:
   * a fair lock's queue outlives its lock key.
   */
  private endsGone(pending: PendingFetch): boolean {
    const events = pending.events;
    if (END_CAUSES[events[events.length - 1]!] === undefined) return false;
    for (const event of events) if (event.startsWith('companion:') || HASH_EVENTS.has(event)) return false;
    const dialect = this.tracked.get(pending.hex)?.dialect;
    // An unknown key counts only when it was a string here (set, then gone): a read of
    // an unknown deleted key could still find a fair lock's queue.
    return dialect === 'redis-string' || (dialect === undefined && events.includes('set'));
  }

  private emitChange(pending: PendingFetch, state: RawLockState, doneMono: number): void {
    const hex = pending.hex;
    const lock = recogniseLock(state);
    const { prev, dangling } = this.emitUnreadHolds(pending, this.tracked.get(hex), lock?.dialect ?? null);
    const endCause = lastEndCause(pending.events);
    const at = pending.at;
    if (lock === null && dangling) {
      // Set after the last end we saw, and already gone: its del is still on the way.
      // Count it now and keep it open so that del ends it.
      const unreadDialect: Dialect = prev?.dialect ?? (dangling === 'set' ? 'redis-string' : 'redisson');
      const seq = ++this.seq;
      this.tracked.set(hex, { dialect: unreadDialect, holdId: `unread:${seq}`, ttlMs: null, renewedAt: null, waiterSince: NO_WAITERS });
      this.emit({
        source: this.name,
        key: pending.key,
        dialect: unreadDialect,
        at,
        seq,
        hold: { holdId: `unread:${seq}`, holder: UNREAD_HOLDER, token: null, ttlMs: null, remainingMs: null },
        waiters: null,
        ...(prev?.holdId != null ? { endCause: endCause ?? 'unknown' } : {}),
      });
      return;
    }
    if (lock === null) {
      if (!prev) return;
      this.tracked.delete(hex);
      this.emit({
        source: this.name,
        key: pending.key,
        dialect: prev.dialect,
        at,
        seq: ++this.seq,
        hold: null,
        waiters: prev.dialect === 'redisson-fair' ? [] : null,
        ...(prev.holdId !== null ? { endCause: endCause ?? 'unknown' } : {}),
      });
      return;
    }
    let hold: HoldObservation | null = null;
    let ttlMs: number | null = null;
    let renewedAt: number | null = null;
    if (lock.hold) {
      const sameHold = prev?.holdId === lock.hold.holdId;
      const remaining = lock.hold.remainingMs;
      if (remaining === null) {
        ttlMs = null;
        renewedAt = pending.grantAt ?? (sameHold ? prev!.renewedAt : null);
      } else if (pending.grantAt !== null) {
        ttlMs = estimateGrantedTtl(remaining, doneMono - (pending.grantMono ?? pending.firstMono));
        // The expiry is known precisely (now + PTTL); when the TTL estimate is right,
        // expiry - TTL is the real grant, earlier than a notification handled late.
        renewedAt = Math.min(pending.grantAt, this.now() + remaining - ttlMs);
      } else if (sameHold) {
        ttlMs = prev!.ttlMs;
        renewedAt = prev!.renewedAt;
      } else {
        ttlMs = estimateGrantedTtl(remaining, doneMono - pending.firstMono);
      }
      hold = { ...lock.hold, ttlMs, renewedAt };
    }
    // Redisson deletes a fair lock's queue keys when the queue empties; once seen as
    // fair, a lock stays fair for this source (with an empty queue) instead of flipping.
    const dialect: Dialect = lock.dialect === 'redisson' && prev?.dialect === 'redisson-fair' ? 'redisson-fair' : lock.dialect;
    const waiters = dialect === 'redisson-fair' && lock.waiters === null ? [] : this.waitersWithSince(lock, prev, at);
    this.tracked.set(hex, {
      dialect,
      holdId: lock.hold?.holdId ?? null,
      ttlMs,
      renewedAt,
      waiterSince: waiters && waiters.length > 0 ? new Map(waiters.map((w) => [w.id, w.since])) : NO_WAITERS,
    });
    const holdEnded = prev?.holdId != null && prev.holdId !== (lock.hold?.holdId ?? null);
    this.emit({
      source: this.name,
      key: pending.key,
      dialect,
      at,
      seq: ++this.seq,
      hold,
      waiters,
      ...(holdEnded ? { endCause: endCause ?? 'unknown' } : {}),
    });
  }

  /**
   * Holds that began and ended between two reads of the key (a critical section
   * shorter than the fetch) leave only their notifications: `set` on a free key,
   * then `del` or `expired`. Each becomes an acquisition with an unread holder, so
   * acquisitions are counted even when their value could not be read. The known
   * hold that such a sequence ends is ended first, in order. Returns the tracked
   * state the final read should be compared with, and the create event of a hold
   * whose end has not been seen yet (`dangling`).
   */
  private emitUnreadHolds(pending: PendingFetch, prev: Tracked | undefined, dialect: Dialect | null): { prev: Tracked | undefined; dangling: string | null } {
    const events = pending.events;
    const hex = pending.hex;
    let current = prev;
    let known = prev?.holdId != null;
    let present = known;
    let unread: string | null = null;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const cause = END_CAUSES[event];
      if (cause) {
        if (known && current) {
          // The known hold ended. When nothing is created after this, the final read
          // reports the end itself (with the waiters it sees); otherwise end it now so
          // the holds that follow come after it.
          if (events.slice(i + 1).some((e) => CREATE_EVENTS.has(e))) {
            current = { ...current, holdId: null, ttlMs: null, renewedAt: null };
            this.tracked.set(hex, current);
            const waiters =
              current.dialect === 'redisson-fair' ? [...current.waiterSince].map(([id, since]) => ({ id, holder: id, since })) : null;
            this.emit({ source: this.name, key: pending.key, dialect: current.dialect, at: pending.at, seq: ++this.seq, hold: null, waiters, endCause: cause });
          }
          known = false;
        } else if (unread) {
          const unreadDialect: Dialect = current?.dialect ?? dialect ?? (unread === 'set' ? 'redis-string' : 'redisson');
          const seq = ++this.seq;
          this.emit({
            source: this.name,
            key: pending.key,
            dialect: unreadDialect,
            at: pending.at,
            seq,
            hold: { holdId: `unread:${seq}`, holder: UNREAD_HOLDER, token: null, ttlMs: null, remainingMs: null },
            waiters: null,
          });
          this.emit({ source: this.name, key: pending.key, dialect: unreadDialect, at: pending.at, seq: ++this.seq, hold: null, waiters: null, endCause: cause });
          unread = null;
        }
        present = false;
      } else if (CREATE_EVENTS.has(event) && !present) {
        present = true;
        unread = event;
      }
    }
    return { prev: current, dangling: unread };
  }

  private waitersWithSince(lock: RecognisedLock, prev: Tracked | undefined, firstSeen: number | null): WaiterObservation[] | null {
    if (lock.waiters === null) return null;
    return lock.waiters.map((w) => ({
      id: w.id,
      holder: w.holder,
      since: prev?.waiterSince.has(w.id) ? prev.waiterSince.get(w.id)! : firstSeen,
      deadline: w.deadline,
    }));
  }

  private emit(observation: LockObservation): void {
    try {
      this.sink?.observe(observation);
    } catch (error) {
      this.recordError(`The observation sink of "${this.name}" threw: ${error instanceof Error ? error.message : String(error)}.`);
    }
  }

  // ---------------------------------------------------------------- resync and snapshots

  /** Full resync: every lock under the patterns is observed again and the sink learns which exist. */
  private async resync(): Promise<void> {
    const at = this.now();
    const live = new Set<string>();
    const seen = new Map<string, Tracked>();
    await this.scanLocks(this.command(), (fetched) => {
      for (const { key, lock } of fetched) {
        const hex = key.toString('hex');
        live.add(hex);
        const prev = this.tracked.get(hex);
        const hold = this.holdForSnapshot(lock, prev);
        // Waiters first seen here appeared while nobody watched: their start is unknown.
        const waiters = this.waitersWithSince(lock, prev, null);
        const tracked: Tracked = {
          dialect: lock.dialect,
          holdId: hold?.holdId ?? null,
          ttlMs: hold?.ttlMs ?? null,
          renewedAt: hold?.renewedAt ?? null,
          waiterSince: new Map((waiters ?? []).map((w) => [w.id, w.since])),
        };
        this.tracked.set(hex, tracked);
        seen.set(hex, tracked);
        this.emit({ source: this.name, key, dialect: lock.dialect, at, seq: ++this.seq, hold, waiters, replayed: true });
      }
    });
    // Locks that vanished while disconnected are the sink's to end (resynced below); forget them here.
    for (const hex of [...this.tracked.keys()]) if (!seen.has(hex) && !this.pending.has(hex) && !this.inFlight.has(hex)) this.tracked.delete(hex);
    this.state.lastSeenAt = this.now();
    this.sink?.resynced?.(this.name, live, at);
  }

  /** A snapshot hold: the tracked grant when it is the same hold, else the remaining TTL as the best lower bound. */
  private holdForSnapshot(lock: RecognisedLock, prev: Tracked | undefined): HoldObservation | null {
    if (!lock.hold) return null;
    const remaining = lock.hold.remainingMs;
    if (prev && prev.holdId === lock.hold.holdId) {
      return { ...lock.hold, ttlMs: remaining === null ? null : (prev.ttlMs ?? remaining), renewedAt: prev.renewedAt };
    }
    return { ...lock.hold, ttlMs: remaining, renewedAt: null };
  }

  /**
   * SCAN every pattern (and Redisson's fair-lock queues), TYPE the keys in
   * pipelines, then fetch only strings and hashes: unrelated keys cost one
   * TYPE each and their values are never read.
   */
  private async scanLocks(client: Redis, onBatch: (fetched: FetchedLock[]) => void): Promise<void> {
    const candidates = new Map<string, { key: Buffer; type: string | null }>();
    for (const pattern of this.config.patterns) {
      await this.scanPattern(client, pattern, (key) => {
        if (redissonCompanionName(key) || isRedissonAuxiliary(key)) return;
        candidates.set(key.toString('hex'), { key, type: null });
      });
    }
    // Fair locks between holders exist only as their queue/timeout keys. One pass over
    // `redisson_lock_*` finds both kinds (each SCAN pass walks the whole keyspace).
    await this.scanPattern(client, 'redisson_lock_*', (key) => {
      const name = redissonCompanionName(key);
      if (name && this.matchesPatterns(name)) candidates.set(name.toString('hex'), { key: name, type: null });
    });
    const all = [...candidates.values()];
    for (let i = 0; i < all.length; i += SCAN_COUNT) {
      const chunk = all.slice(i, i + SCAN_COUNT);
      const pipeline = client.pipeline();
      for (const c of chunk) pipeline.type(c.key);
      const replies = await pipeline.exec();
      chunk.forEach((c, j) => {
        const reply = replies?.[j];
        c.type = reply && reply[0] === null ? String(reply[1]) : 'none';
      });
    }
    const wanted = all.filter((c) => c.type === 'string' || c.type === 'hash' || c.type === 'none');
    for (let i = 0; i < wanted.length; i += FETCH_BATCH) {
      const chunk = wanted.slice(i, i + FETCH_BATCH);
      const states = await this.fetchStates(client, chunk);
      const fetched: FetchedLock[] = [];
      states.forEach((state, j) => {
        const lock = recogniseLock(state);
        if (lock) fetched.push({ key: chunk[j]!.key, state, lock });
      });
      onBatch(fetched);
    }
  }

  private async scanPattern(client: Redis, pattern: string, onKey: (key: Buffer) => void): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next.toString('latin1');
      for (const key of keys) onKey(key);
    } while (cursor !== '0');
  }

  /**
   * One pipeline for many keys. With a known type only the fitting reads are
   * sent; with none (a notification) every read is sent and the wrong-type
   * errors are ignored, which saves a round trip.
   */
  /**
   * Reads the whole state of many keys in ONE command (a Lua script): type,
   * value or hash, PTTL, and Redisson's queue, timeouts and token. Pipelining the
   * same reads cost seven commands per key (and a WRONGTYPE error for every blind
   * read), which is what capped the watch under load.
   */
  private async fetchByScript(client: Redis, keys: Buffer[]): Promise<RawLockState[]> {
    const out: RawLockState[] = [];
    for (let i = 0; i < keys.length; i += FETCH_BATCH) {
      const chunk = keys.slice(i, i + FETCH_BATCH);
      const reply = (await (client as unknown as ScriptedClient).lockscopeFetchBuffer(chunk.length, ...chunk)) as unknown[];
      for (let k = 0; k < chunk.length; k++) out.push(parseFetchReply(chunk[k]!, reply[k]));
    }
    return out;
  }

  private async fetchStates(client: Redis, items: Array<{ key: Buffer; type: string | null }>): Promise<RawLockState[]> {
    const pipeline = client.pipeline();
    type Slot = 'type' | 'value' | 'hash' | 'pttl' | 'queue' | 'timeouts' | 'token';
    const plans: Array<Array<Slot>> = [];
    for (const { key, type } of items) {
      const plan: Slot[] = [];
      const add = (slot: Slot) => plan.push(slot);
      if (type === null) {
        pipeline.type(key);
        add('type');
      }
      if (type === null || type === 'string') {
        pipeline.getBuffer(key);
        add('value');
      }
      if (type === null || type === 'hash') {
        pipeline.hgetallBuffer(key);
        add('hash');
      }
      if (type !== 'none') {
        pipeline.pttl(key);
        add('pttl');
      }
      if (type !== 'string') {
        pipeline.lrangeBuffer(redissonKey(REDISSON_QUEUE_PREFIX, key), 0, -1);
        add('queue');
        pipeline.zrange(redissonKey(REDISSON_TIMEOUT_PREFIX, key), '0', '-1', 'WITHSCORES');
        add('timeouts');
        pipeline.getBuffer(redissonKey(REDISSON_TOKEN_PREFIX, key));
        add('token');
      }
      plans.push(plan);
    }
    const replies = (await pipeline.exec()) ?? [];
    let index = 0;
    return items.map(({ key, type }, i) => {
      const state: RawLockState = { key, type: type ?? 'none', value: null, hash: null, pttl: -2, queue: [], timeouts: null, fencingToken: null };
      for (const slot of plans[i]!) {
        const reply = replies[index++];
        if (!reply) continue;
        const [error, result] = reply;
        if (error) {
          // WRONGTYPE is expected for blind reads; anything else is a real failure.
          if (/WRONGTYPE/.test(error.message)) continue;
          throw error;
        }
        switch (slot) {
          case 'type':
            state.type = String(result);
            break;
          case 'value':
            state.value = Buffer.isBuffer(result) ? result : null;
            break;
          case 'hash':
            state.hash = result !== null && typeof result === 'object' && Object.keys(result).length > 0 ? (result as Record<string, Buffer>) : null;
            break;
          case 'pttl':
            state.pttl = Number(result);
            break;
          case 'queue':
            state.queue = Array.isArray(result) ? (result as Buffer[]) : [];
            break;
          case 'timeouts': {
            const flat = Array.isArray(result) ? (result as string[]) : [];
            const pairs: Array<[string, number]> = [];
            for (let k = 0; k + 1 < flat.length; k += 2) pairs.push([flat[k]!, Number(flat[k + 1])]);
            state.timeouts = pairs.length > 0 ? pairs : null;
            break;
          }
          case 'token':
            state.fencingToken = Buffer.isBuffer(result) ? result : null;
            break;
        }
      }
      return state;
    });
  }

  private toLiveLock(key: Buffer, lock: RecognisedLock, at: number): LiveLock {
    const prev = this.tracked.get(key.toString('hex'));
    // issue 15: PTTL is what remains, not what was granted. Unless this process saw the
    // grant, a live read's TTL is unknown (null beside a known remainingMs); lockctl takes
    // it from the store.
    const snapshot = this.holdForSnapshot(lock, prev);
    const grantSeen = snapshot !== null && prev?.holdId === snapshot.holdId && prev.ttlMs !== null;
    const hold = snapshot && !grantSeen && snapshot.remainingMs !== null ? { ...snapshot, ttlMs: null } : snapshot;
    return {
      source: this.name,
      key,
      name: displayKey(key),
      dialect: lock.dialect,
      hold,
      waiters: this.waitersWithSince(lock, prev, null),
      at,
    };
  }

  async list(): Promise<LiveLock[]> {
    const client = await this.ready(this.command());
    const out: LiveLock[] = [];
    const at = this.now();
    try {
      await this.scanLocks(client, (fetched) => {
        for (const { key, lock } of fetched) out.push(this.toLiveLock(key, lock, at));
      });
    } catch (error) {
      throw this.failure(error, 'the lock listing');
    }
    return out;
  }

  async get(name: string): Promise<LiveLock | null> {
    const client = await this.ready(this.command());
    for (const key of keyCandidates(name)) {
      if (!this.matchesPatterns(key)) continue;
      let state: RawLockState;
      try {
        [state] = (await this.fetchStates(client, [{ key, type: null }])) as [RawLockState];
      } catch (error) {
        throw this.failure(error, `reading "${name}"`);
      }
      const lock = recogniseLock(state);
      if (lock) return this.toLiveLock(key, lock, this.now());
    }
    return null;
  }

  async checkLease(key: Uint8Array, holdId: string): Promise<LeaseCheck> {
    const client = await this.ready(this.command());
    const { compared, mode } = holdIdForScript(holdId);
    let reply: unknown;
    try {
      reply = await client.eval(CHECK_LEASE_SCRIPT, 1, Buffer.from(key), compared, mode);
    } catch (error) {
      throw this.failure(error, 'a lease check');
    }
    const [exists, pttl] = (reply as [number, number]).map(Number) as [number, number];
    const tracked = this.tracked.get(Buffer.from(key).toString('hex'));
    const remainingMs = exists === 1 && pttl >= 0 ? pttl : null;
    return {
      exists: exists === 1,
      remainingMs,
      // The grant is known only when this source saw it; a remaining TTL is not a grant.
      ttlMs: exists === 1 && tracked?.holdId === holdId ? tracked.ttlMs : null,
    };
  }

  async release(request: ReleaseRequest): Promise<ReleaseResult> {
    const client = await this.ready(this.command());
    const lock = await this.get(request.name);
    if (lock === null) {
      const known = keyCandidates(request.name).some((k) => this.tracked.has(k.toString('hex')));
      throw known
        ? new LockscopeError('LOCK_FREE', `Lock "${request.name}" on ${this.name} is free: nothing to release.`)
        : new LockscopeError('LOCK_NOT_FOUND', `No lock "${request.name}" on ${this.name} (${this.safeUrl}) under patterns ${this.config.patterns.join(', ')}; check the name with \`lockctl ls --source ${this.name}\`.`);
    }
    if (lock.hold === null) throw new LockscopeError('LOCK_FREE', `Lock "${request.name}" on ${this.name} is free (it has waiters but no holder): nothing to release.`);
    const hold = lock.hold;
    const changed =
      (request.expectHoldId !== undefined && request.expectHoldId !== hold.holdId) ||
      (request.expectHolder != null && request.expectHolder !== hold.holder) ||
      (request.expectToken != null && request.expectToken !== hold.token);
    if (changed) throw this.holderChanged(request, lock);

    const isString = lock.dialect === 'redis-string';
    const channel = isString
      ? null
      : lock.hold.holder.startsWith('read: ') || lock.hold.holder.startsWith('write: ')
        ? redissonKey(REDISSON_RWLOCK_CHANNEL_PREFIX, lock.key)
        : redissonKey(REDISSON_CHANNEL_PREFIX, lock.key);
    const actions = [
      isString
        ? `Delete key "${lock.name}" only if its value is still ${hold.holder} (Lua compare-and-delete).`
        : `Delete hash "${lock.name}" only if its holder fields are still ${hold.holder} (Lua compare-and-delete).`,
    ];
    if (channel) {
      actions.push(`Publish Redisson's unlock message "${REDISSON_UNLOCK_MESSAGE}" on ${displayKey(channel)} so waiters retry.`);
      if (lock.dialect === 'redisson-fair') actions.push(`Publish it on ${displayKey(channel)}:<first waiter> too, as Redisson's fair lock does.`);
    }
    if (request.dryRun) return { released: false, lock, actions };

    const { compared, mode } = holdIdForScript(hold.holdId);
    let result: number;
    try {
      result = Number(
        await client.eval(
          RELEASE_SCRIPT,
          3,
          Buffer.from(lock.key),
          channel ?? Buffer.alloc(0),
          redissonKey(REDISSON_QUEUE_PREFIX, lock.key),
          compared,
          isString ? 'string' : 'hash',
          mode,
          REDISSON_UNLOCK_MESSAGE,
        ),
      );
    } catch (error) {
      throw this.failure(error, 'the release script');
    }
    if (result === 0) throw new LockscopeError('LOCK_FREE', `Lock "${request.name}" on ${this.name} was released by someone else just now: nothing deleted.`);
    if (result !== 1) throw this.holderChanged(request, lock);
    return { released: true, lock, actions };
  }

  private holderChanged(request: ReleaseRequest, lock: LiveLock): LockscopeError {
    return new LockscopeError(
      'HOLDER_CHANGED',
      `Lock "${request.name}" on ${this.name} changed holder since you looked (now ${lock.hold?.holder ?? 'free'}); nothing was deleted. Look again and retry if it is still stuck.`,
      { details: { source: this.name, name: request.name, holder: lock.hold?.holder ?? null, holdId: lock.hold?.holdId ?? null } },
    );
  }

  async probe(): Promise<SourceHealth> {
    try {
      const client = await this.ready(this.command());
      await this.readVersion(client);
      if (this.state.notifications !== 'enabled-by-lockscope') {
        try {
          const reply = (await client.config('GET', 'notify-keyspace-events')) as string[];
          const current = reply[1] ?? '';
          const has = (flag: string) => current.includes(flag) || (current.includes('A') && ALL_ALIAS.includes(flag));
          this.state.notifications = ['K', ...NEEDED_FLAGS].every(has) ? 'on' : 'off';
        } catch {
          this.state.notifications = null;
        }
      }
      this.state.lastSeenAt = this.now();
      if (!this.watching) this.state.connected = true;
      if (!this.watching) this.state.lastError = null;
    } catch (error) {
      this.state.connected = false;
      this.state.lastError = this.failure(error, 'the probe').message;
    }
    return this.health();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watching = false;
    if (this.flushTimer !== null) {
      clearImmediate(this.flushTimer);
      this.flushTimer = null;
    }
    this.pending.clear();
    const clients = [this.sub, this.cmd].filter((c): c is Redis => c !== null);
    this.sub = null;
    this.cmd = null;
    await Promise.all(clients.map((client) => closeClient(client)));
    this.state.connected = false;
    this.sink = null;
  }
}

/**
 * Redisson bookkeeping that is not itself a lock: fencing counters and
 * RReadWriteLock per-reader timeout keys (`{name}:uuid:tid:rwlock_timeout:n`).
 * Matters when a pattern as wide as `*` would otherwise list them.
 */
function isRedissonAuxiliary(key: Uint8Array): boolean {
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return (buf.length >= TOKEN_PREFIX_BYTES.length && TOKEN_PREFIX_BYTES.equals(buf.subarray(0, TOKEN_PREFIX_BYTES.length))) || buf.includes(RWLOCK_TIMEOUT_BYTES);
}

// Compared as bytes: this runs for every keyspace notification.
const TOKEN_PREFIX_BYTES = Buffer.from(REDISSON_TOKEN_PREFIX, 'latin1');
const RWLOCK_TIMEOUT_BYTES = Buffer.from(':rwlock_timeout:', 'latin1');

/** What a fetch returns for a key that does not exist. */
function absentState(key: Buffer): RawLockState {
  return { key, type: 'none', value: null, hash: null, pttl: -2, queue: [], timeouts: null, fencingToken: null };
}

function lastEndCause(events: string[]): EndCause | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const cause = END_CAUSES[events[i]!];
    if (cause) return cause;
  }
  return undefined;
}

/** The hold id as the Lua scripts compare it: a raw token, or a SHA-1 for huge/binary tokens. */
function holdIdForScript(holdId: string): { compared: string; mode: 'eq' | 'sha1' } {
  return holdId.startsWith('sha1:') ? { compared: holdId.slice(5), mode: 'sha1' } : { compared: holdId, mode: 'eq' };
}

async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end' || client.status === 'wait') {
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  client.disconnect();
  await withTimeout(ended, 2_000).catch(() => undefined);
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no connection within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** One key's state per entry: {type, value, hash (flat), pttl, queue, timeouts (flat), token}. */
const FETCH_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  local value, hash = false, false
  if t == 'string' then value = redis.call('GET', key)
  elseif t == 'hash' then hash = redis.call('HGETALL', key) end
  local pttl = redis.call('PTTL', key)
  local queue, timeouts, token = {}, false, false
  if t ~= 'string' then
    local name = '{' .. key .. '}'
    local q = redis.pcall('LRANGE', '${REDISSON_QUEUE_PREFIX.slice(0, -1)}' .. name, 0, -1)
    if type(q) == 'table' and not q.err then queue = q end
    local z = redis.pcall('ZRANGE', '${REDISSON_TIMEOUT_PREFIX.slice(0, -1)}' .. name, 0, -1, 'WITHSCORES')
    if type(z) == 'table' and not z.err and #z > 0 then timeouts = z end
    local tk = redis.pcall('GET', '${REDISSON_TOKEN_PREFIX.slice(0, -1)}' .. name)
    if type(tk) == 'string' then token = tk end
  end
  out[i] = { t, value, hash, pttl, queue, timeouts, token }
end
return out
`;

interface ScriptedClient {
  lockscopeFetchBuffer(numKeys: number, ...keys: Buffer[]): Promise<unknown>;
}

function parseFetchReply(key: Buffer, raw: unknown): RawLockState {
  const [type, value, hash, pttl, queue, timeouts, token] = (Array.isArray(raw) ? raw : []) as [
    Buffer | string | undefined,
    Buffer | null,
    Buffer[] | null,
    number | undefined,
    Buffer[] | null,
    Buffer[] | null,
    Buffer | null,
  ];
  let fields: Record<string, Buffer> | null = null;
  if (Array.isArray(hash) && hash.length > 0) {
    fields = {};
    for (let i = 0; i + 1 < hash.length; i += 2) fields[hash[i]!.toString()] = hash[i + 1]!;
  }
  let pairs: Array<[string, number]> | null = null;
  if (Array.isArray(timeouts) && timeouts.length > 0) {
    pairs = [];
    for (let i = 0; i + 1 < timeouts.length; i += 2) pairs.push([timeouts[i]!.toString(), Number(timeouts[i + 1]!.toString())]);
  }
  return {
    key,
    type: type === undefined ? 'none' : type.toString(),
    value: Buffer.isBuffer(value) ? value : null,
    hash: fields,
    pttl: typeof pttl === 'number' ? pttl : -2,
    queue: Array.isArray(queue) ? queue : [],
    timeouts: pairs,
    fencingToken: Buffer.isBuffer(token) ? token : null,
  };
}
