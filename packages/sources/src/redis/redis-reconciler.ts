import {
  displayKey,
  type Dialect,
  type EndCause,
  type HoldObservation,
  type LiveLock,
  type LockObservation,
  type WaiterObservation,
} from '@lockscope/core';
import {
  estimateGrantedTtl,
  recogniseLock,
  redissonCompanionName,
  redisGlobMatch,
  REDISSON_TOKEN_PREFIX,
  type RawLockState,
  type RecognisedLock,
} from './redis-dialect.js';

/** Events that (re)grant a hold's TTL: the PTTL read right after them is the grant. */
const GRANT_EVENTS = new Set(['set', 'expire', 'hset', 'hincrby', 'restore', 'rename_to', 'copy_to']);
const END_CAUSES: Record<string, EndCause> = { del: 'released', expired: 'expired', evicted: 'unknown' };
/** Events only a hash (Redisson) key produces. */
const HASH_EVENTS = new Set(['hset', 'hincrby', 'hdel']);
/** Events that create a lock key that did not exist. */
const CREATE_EVENTS = new Set(['set', 'hset', 'hincrby', 'restore', 'rename_to', 'copy_to']);
/** Holder shown for a hold whose value was gone before it could be read. */
export const UNREAD_HOLDER = '(unread: released before it could be read)';

interface Tracked {
  dialect: Dialect;
  holdId: string | null;
  ttlMs: number | null;
  renewedAt: number | null;
  /** Read-only once stored (NO_WAITERS is shared). */
  waiterSince: ReadonlyMap<string, number | null>;
}

const NO_WAITERS: ReadonlyMap<string, number | null> = new Map();

/** The keyspace notifications of one key, coalesced until its state is read. */
export interface PendingKey {
  key: Buffer;
  /** key as hex: the key of every map here. */
  hex: string;
  events: string[];
  /** Receipt time (wall ms) of the first coalesced notification. */
  at: number;
  /** Receipt time of the last grant event (set/expire...), null when none. */
  grantAt: number | null;
  /** Monotonic ms of the first and the last grant notification, for measuring how old a PTTL read is. */
  firstMono: number;
  grantMono: number | null;
}

export interface RedisReconcilerOptions {
  source: string;
  /** config.patterns as bytes: only keys matching one are locks. */
  patterns: Buffer[];
}

/**
 * Turns what the Redis adapter hears and reads into LockObservations, with no
 * I/O and no clock of its own (every time is passed in), so each case can be
 * unit-tested without a server.
 *
 * The adapter feeds it keyspace notifications (`noteEvent`), takes the keys to
 * read (`takeBatch`), hands back what it read (`applyFetched`), and runs full
 * resyncs through `beginResync` / `resyncBatch` / `endResync`. Observations are
 * returned, never sent: the adapter delivers them in order.
 */
export class RedisReconciler {
  private readonly source: string;
  private readonly patterns: Buffer[];
  private seq = 0n;
  private readonly tracked = new Map<string, Tracked>();
  private readonly pending = new Map<string, PendingKey>();
  private readonly inFlight = new Set<string>();
  /**
   * During a resync: the keys reported from notifications since it began. Their
   * notification reads are newer than the resync's SCAN, so the resync neither
   * replays an older read of them nor tells the sink they are gone.
   */
  private touchedDuringResync: Set<string> | null = null;
  private resyncLive: Set<string> | null = null;
  private resyncSeen: Set<string> | null = null;

  constructor(options: RedisReconcilerOptions) {
    this.source = options.source;
    this.patterns = options.patterns;
  }

  matchesPatterns(key: Uint8Array): boolean {
    for (const pattern of this.patterns) if (redisGlobMatch(pattern, key)) return true;
    return false;
  }

  /**
   * One keyspace notification for `key` (the channel without its prefix).
   * Returns whether it concerns a lock (and so needs a read).
   */
  noteEvent(key: Buffer, event: string, at: number, mono: number): boolean {
    // Only a key ending in "}" can be a Redisson companion (queue, timeouts) of a lock.
    const companion = key.length > 0 && key[key.length - 1] === 0x7d ? redissonCompanionName(key) : null;
    const hex = companion ? companion.toString('hex') : key.toString('hex');
    let pending = this.pending.get(hex);
    if (!pending) {
      // A key already pending or tracked passed these checks when first seen: most
      // notifications (the expire after a set, a release) skip them and the copy.
      if (!companion && !this.tracked.has(hex)) {
        if (isRedissonAuxiliary(key) || !this.matchesPatterns(key)) return false;
      } else if (companion && !this.tracked.has(hex) && !this.matchesPatterns(companion)) {
        return false;
      }
      pending = { key: companion ?? Buffer.from(key), hex, events: [], at, grantAt: null, firstMono: mono, grantMono: null };
      this.pending.set(hex, pending);
    }
    // Events on Redisson's companion keys (queue, timeouts) are kept apart: a
    // `del` of an emptied queue is not the end of the lock.
    pending.events.push(companion ? `companion:${event}` : event);
    if (!companion && GRANT_EVENTS.has(event)) {
      pending.grantAt = at;
      pending.grantMono = mono;
    }
    return true;
  }

  hasPending(): boolean {
    return this.pending.size > 0;
  }

  /**
   * The pending keys to read now (none when `canFetch` is false); keys already
   * being read wait for the next round. Keys whose notifications prove them gone
   * are reported at once without a read.
   */
  takeBatch(canFetch: boolean, doneMono: number, now: number): { fetch: PendingKey[]; observations: LockObservation[] } {
    const fetch: PendingKey[] = [];
    const observations: LockObservation[] = [];
    for (const [hex, pending] of this.pending) {
      if (this.inFlight.has(hex)) continue;
      if (this.endsGone(pending)) {
        // Nothing left to read: a fetch would find the key gone (a newer set has its own
        // notification on the way). Half the keys under churn are releases like this.
        this.pending.delete(hex);
        this.change(pending, absentState(pending.key), doneMono, now, observations);
        continue;
      }
      if (!canFetch) continue;
      this.pending.delete(hex);
      this.inFlight.add(hex);
      fetch.push(pending);
    }
    return { fetch, observations };
  }

  /** The states read for a batch from takeBatch, in the same order. */
  applyFetched(batch: PendingKey[], states: RawLockState[], doneMono: number, now: number): LockObservation[] {
    const observations: LockObservation[] = [];
    for (let i = 0; i < batch.length; i++) {
      this.inFlight.delete(batch[i]!.hex);
      this.change(batch[i]!, states[i]!, doneMono, now, observations);
    }
    return observations;
  }

  /** A batch whose read failed: its changes are lost until the resync after the reconnect. */
  fetchFailed(batch: PendingKey[]): void {
    for (const p of batch) this.inFlight.delete(p.hex);
  }

  /** Drops what is waiting to be read (the source stops). */
  clearPending(): void {
    this.pending.clear();
  }

  // ---------------------------------------------------------------- resync

  /** Starts a full resync; call after the subscription is in place and before the SCAN. */
  beginResync(): void {
    this.touchedDuringResync = new Set();
    this.resyncLive = new Set();
    this.resyncSeen = new Set();
  }

  /** Locks read by the resync's SCAN: each is observed again (`replayed`). */
  resyncBatch(fetched: Array<{ key: Buffer; lock: RecognisedLock }>, at: number): LockObservation[] {
    const live = this.resyncLive;
    const seen = this.resyncSeen;
    const touched = this.touchedDuringResync;
    if (!live || !seen || !touched) throw new Error('resyncBatch() outside a resync');
    const out: LockObservation[] = [];
    for (const { key, lock } of fetched) {
      const hex = key.toString('hex');
      live.add(hex);
      seen.add(hex);
      // A notification already reported a newer state of this key.
      if (touched.has(hex)) continue;
      const prev = this.tracked.get(hex);
      const hold = holdForSnapshot(lock, prev);
      // Waiters first seen here appeared while nobody watched: their start is unknown.
      const waiters = waitersWithSince(lock, prev, null);
      this.tracked.set(hex, {
        dialect: lock.dialect,
        holdId: hold?.holdId ?? null,
        ttlMs: hold?.ttlMs ?? null,
        renewedAt: hold?.renewedAt ?? null,
        waiterSince: new Map((waiters ?? []).map((w) => [w.id, w.since])),
      });
      out.push({ source: this.source, key, dialect: lock.dialect, at, seq: ++this.seq, hold, waiters, replayed: true });
    }
    return out;
  }

  /**
   * Ends the resync. Returns the keys (hex) of every lock that exists now: the
   * ones the SCAN found, and the ones notifications reported since the resync
   * began (their own observations say whether they are held). A lock the sink
   * knows that is not in the set ended while nobody watched.
   */
  endResync(): Set<string> {
    const live = this.resyncLive ?? new Set<string>();
    const seen = this.resyncSeen ?? new Set<string>();
    const touched = this.touchedDuringResync ?? new Set<string>();
    this.touchedDuringResync = null;
    this.resyncLive = null;
    this.resyncSeen = null;
    for (const hex of touched) {
      const tracked = this.tracked.get(hex);
      if (tracked && tracked.holdId !== null) live.add(hex);
    }
    for (const hex of this.pending.keys()) live.add(hex);
    for (const hex of this.inFlight) live.add(hex);
    // Locks that vanished while disconnected are the sink's to end; forget them here.
    for (const hex of [...this.tracked.keys()]) {
      if (!seen.has(hex) && !touched.has(hex) && !this.pending.has(hex) && !this.inFlight.has(hex)) this.tracked.delete(hex);
    }
    return live;
  }

  /** Abandons a resync that failed midway (the next one starts afresh). */
  abortResync(): void {
    this.touchedDuringResync = null;
    this.resyncLive = null;
    this.resyncSeen = null;
  }

  // ---------------------------------------------------------------- snapshots and lookups

  /** A lock as list()/get() show it, with what this source learnt from watching. */
  liveLock(key: Buffer, lock: RecognisedLock, at: number): LiveLock {
    const prev = this.tracked.get(key.toString('hex'));
    // PTTL is what remains, not what was granted: unless this source saw the grant, a live
    // read's TTL is unknown (null beside a known remainingMs); lockctl takes it from the store.
    const snapshot = holdForSnapshot(lock, prev);
    const grantSeen = snapshot !== null && prev?.holdId === snapshot.holdId && prev.ttlMs !== null;
    const hold = snapshot && !grantSeen && snapshot.remainingMs !== null ? { ...snapshot, ttlMs: null } : snapshot;
    return {
      source: this.source,
      key,
      name: displayKey(key),
      dialect: lock.dialect,
      hold,
      waiters: waitersWithSince(lock, prev, null),
      at,
    };
  }

  /** Whether this source has seen the key as a lock. */
  knows(key: Uint8Array): boolean {
    return this.tracked.has(Buffer.from(key).toString('hex'));
  }

  /** The TTL this source saw granted to the hold `holdId` of `key`, null when it did not see the grant. */
  grantedTtl(key: Uint8Array, holdId: string): number | null {
    const tracked = this.tracked.get(Buffer.from(key).toString('hex'));
    return tracked?.holdId === holdId ? tracked.ttlMs : null;
  }

  // ---------------------------------------------------------------- notifications

  /**
   * Whether a plain string lock's notifications end with its key gone (del, expired,
   * evicted), so there is nothing to fetch. Hash (Redisson) locks are always fetched:
   * a fair lock's queue outlives its lock key.
   */
  private endsGone(pending: PendingKey): boolean {
    const events = pending.events;
    if (END_CAUSES[events[events.length - 1]!] === undefined) return false;
    for (const event of events) if (event.startsWith('companion:') || HASH_EVENTS.has(event)) return false;
    const dialect = this.tracked.get(pending.hex)?.dialect;
    // An unknown key counts only when it was a string here (set, then gone): a read of
    // an unknown deleted key could still find a fair lock's queue.
    return dialect === 'redis-string' || (dialect === undefined && events.includes('set'));
  }

  private change(pending: PendingKey, state: RawLockState, doneMono: number, now: number, out: LockObservation[]): void {
    this.touchedDuringResync?.add(pending.hex);
    const hex = pending.hex;
    const lock = recogniseLock(state);
    const { prev, dangling } = this.unreadHolds(pending, this.tracked.get(hex), lock?.dialect ?? null, out);
    const endCause = lastEndCause(pending.events);
    const at = pending.at;
    if (lock === null && dangling) {
      // Set after the last end we saw, and already gone: its del is still on the way.
      // Count it now and keep it open so that del ends it.
      const unreadDialect: Dialect = prev?.dialect ?? (dangling === 'set' ? 'redis-string' : 'redisson');
      const seq = ++this.seq;
      this.tracked.set(hex, { dialect: unreadDialect, holdId: `unread:${seq}`, ttlMs: null, renewedAt: null, waiterSince: NO_WAITERS });
      out.push({
        source: this.source,
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
      out.push({
        source: this.source,
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
        renewedAt = Math.min(pending.grantAt, now + remaining - ttlMs);
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
    const waiters = dialect === 'redisson-fair' && lock.waiters === null ? [] : waitersWithSince(lock, prev, at);
    this.tracked.set(hex, {
      dialect,
      holdId: lock.hold?.holdId ?? null,
      ttlMs,
      renewedAt,
      waiterSince: waiters && waiters.length > 0 ? new Map(waiters.map((w) => [w.id, w.since])) : NO_WAITERS,
    });
    const holdEnded = prev?.holdId != null && prev.holdId !== (lock.hold?.holdId ?? null);
    out.push({
      source: this.source,
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
  private unreadHolds(
    pending: PendingKey,
    prev: Tracked | undefined,
    dialect: Dialect | null,
    out: LockObservation[],
  ): { prev: Tracked | undefined; dangling: string | null } {
    const events = pending.events;
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
            this.tracked.set(pending.hex, current);
            const waiters =
              current.dialect === 'redisson-fair' ? [...current.waiterSince].map(([id, since]) => ({ id, holder: id, since })) : null;
            out.push({ source: this.source, key: pending.key, dialect: current.dialect, at: pending.at, seq: ++this.seq, hold: null, waiters, endCause: cause });
          }
          known = false;
        } else if (unread) {
          const unreadDialect: Dialect = current?.dialect ?? dialect ?? (unread === 'set' ? 'redis-string' : 'redisson');
          const seq = ++this.seq;
          out.push({
            source: this.source,
            key: pending.key,
            dialect: unreadDialect,
            at: pending.at,
            seq,
            hold: { holdId: `unread:${seq}`, holder: UNREAD_HOLDER, token: null, ttlMs: null, remainingMs: null },
            waiters: null,
          });
          out.push({ source: this.source, key: pending.key, dialect: unreadDialect, at: pending.at, seq: ++this.seq, hold: null, waiters: null, endCause: cause });
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
}

/** A snapshot hold: the tracked grant when it is the same hold, else the remaining TTL as the best lower bound. */
function holdForSnapshot(lock: RecognisedLock, prev: Tracked | undefined): HoldObservation | null {
  if (!lock.hold) return null;
  const remaining = lock.hold.remainingMs;
  if (prev && prev.holdId === lock.hold.holdId) {
    return { ...lock.hold, ttlMs: remaining === null ? null : (prev.ttlMs ?? remaining), renewedAt: prev.renewedAt };
  }
  return { ...lock.hold, ttlMs: remaining, renewedAt: null };
}

function waitersWithSince(lock: RecognisedLock, prev: Tracked | undefined, firstSeen: number | null): WaiterObservation[] | null {
  if (lock.waiters === null) return null;
  return lock.waiters.map((w) => ({
    id: w.id,
    holder: w.holder,
    since: prev?.waiterSince.has(w.id) ? prev.waiterSince.get(w.id)! : firstSeen,
    deadline: w.deadline,
  }));
}

/**
 * Redisson bookkeeping that is not itself a lock: fencing counters and
 * RReadWriteLock per-reader timeout keys (`{name}:uuid:tid:rwlock_timeout:n`).
 * Matters when a pattern as wide as `*` would otherwise list them.
 */
export function isRedissonAuxiliary(key: Uint8Array): boolean {
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return (buf.length >= TOKEN_PREFIX_BYTES.length && TOKEN_PREFIX_BYTES.equals(buf.subarray(0, TOKEN_PREFIX_BYTES.length))) || buf.includes(RWLOCK_TIMEOUT_BYTES);
}

// Compared as bytes: this runs for every keyspace notification.
const TOKEN_PREFIX_BYTES = Buffer.from(REDISSON_TOKEN_PREFIX, 'latin1');
const RWLOCK_TIMEOUT_BYTES = Buffer.from(':rwlock_timeout:', 'latin1');

/** What a read returns for a key that does not exist. */
export function absentState(key: Buffer): RawLockState {
  return { key, type: 'none', value: null, hash: null, pttl: -2, queue: [], timeouts: null, fencingToken: null };
}

function lastEndCause(events: string[]): EndCause | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const cause = END_CAUSES[events[i]!];
    if (cause) return cause;
  }
  return undefined;
}
