import { createHash } from 'node:crypto';
import { displayKey, lookupKeys, type Dialect, type HoldObservation, type RenewingLibrary, type WaiterObservation } from '@lockscope/core';

/** Redisson's companion keys hash-tag the lock name so they land in the same cluster slot. */
export const REDISSON_QUEUE_PREFIX = 'redisson_lock_queue:{';
export const REDISSON_TIMEOUT_PREFIX = 'redisson_lock_timeout:{';
const COMPANION_PREFIXES = [REDISSON_QUEUE_PREFIX, REDISSON_TIMEOUT_PREFIX].map((prefix) => Buffer.from(prefix, 'latin1'));
export const REDISSON_TOKEN_PREFIX = 'redisson_lock_token:{';
export const REDISSON_CHANNEL_PREFIX = 'redisson_lock__channel:{';
export const REDISSON_RWLOCK_CHANNEL_PREFIX = 'redisson_rwlock:{';

export function redissonKey(prefix: string, name: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(prefix, 'latin1'), name, Buffer.from('}', 'latin1')]);
}

/** The lock name inside `redisson_lock_queue:{name}` / `redisson_lock_timeout:{name}`, or null. */
export function redissonCompanionName(key: Uint8Array): Buffer | null {
  // Called for every keyspace notification: the common answer (no) must cost nothing.
  if (key.length === 0 || key[key.length - 1] !== 0x7d) return null;
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  for (const p of COMPANION_PREFIXES) {
    if (buf.length > p.length && buf.subarray(0, p.length).equals(p)) {
      return Buffer.from(buf.subarray(p.length, buf.length - 1));
    }
  }
  return null;
}

const MAX_SHOWN_CHARS = 200;
/** Tokens longer than this are identified by their SHA-1 so a hold id stays small. */
const MAX_RAW_HOLD_ID_BYTES = 4096;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A value as text that is safe to print: invalid UTF-8 bytes and control
 * characters as \xNN, cut after 200 characters with the full byte size noted.
 */
export function safeText(bytes: Uint8Array): string {
  const head = bytes.length > MAX_SHOWN_CHARS * 4 ? bytes.subarray(0, MAX_SHOWN_CHARS * 4) : bytes;
   
  let text = displayKey(head).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const chars = Array.from(text);
  if (chars.length > MAX_SHOWN_CHARS || head.length < bytes.length) {
    text = `${chars.slice(0, MAX_SHOWN_CHARS).join('')}… (${bytes.length} bytes)`;
  }
  return text;
}

/**
 * Hold id of a `SET NX` token: the token itself when it is short valid UTF-8,
 * otherwise `sha1:<hex>` of its bytes (Lua can compare that with redis.sha1hex,
 * so huge or binary tokens still release safely).
 */
export function stringHoldId(value: Uint8Array): string {
  if (value.length <= MAX_RAW_HOLD_ID_BYTES) {
    try {
      const text = utf8.decode(value);
      if (!text.startsWith('sha1:')) return text;
    } catch {
      // not UTF-8: fall through to the hashed form
    }
  }
  return `sha1:${createHash('sha1').update(value).digest('hex')}`;
}

const REDISSON_FIELD = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d+(:write)?$/i;
const INTEGER = /^-?\d+$/;

export interface RedissonHold {
  /** Holder fields (`uuid:threadId`, writers `uuid:threadId:write`), sorted. */
  fields: string[];
  /** RReadWriteLock mode, null for a plain RLock. */
  mode: 'read' | 'write' | null;
}

/** Recognises a Redisson lock hash; null when the hash is something else. */
export function parseRedissonHash(entries: Record<string, Buffer | string>): RedissonHold | null {
  const fields: string[] = [];
  let mode: 'read' | 'write' | null = null;
  for (const [field, raw] of Object.entries(entries)) {
    const value = typeof raw === 'string' ? raw : raw.toString('latin1');
    if (field === 'mode') {
      if (value !== 'read' && value !== 'write') return null;
      mode = value;
      continue;
    }
    if (!REDISSON_FIELD.test(field) || !INTEGER.test(value)) return null;
    fields.push(field);
  }
  if (fields.length === 0) return null;
  fields.sort();
  return { fields, mode };
}

/** Raw state of one candidate lock, as fetched in a pipeline. */
export interface RawLockState {
  key: Buffer;
  type: string;
  /** GET result for a string key. */
  value: Buffer | null;
  /** HGETALL result for a hash key. */
  hash: Record<string, Buffer> | null;
  /** PTTL: -2 missing, -1 no TTL. */
  pttl: number;
  /** LRANGE of redisson_lock_queue:{name}. */
  queue: Buffer[];
  /** redisson_lock_timeout:{name} as [member, score] pairs; null when the ZSET does not exist. */
  timeouts: Array<[string, number]> | null;
  /** GET redisson_lock_token:{name}. */
  fencingToken: Buffer | null;
  /** A ZSET key's own members with their scores (ZRANGE 0 -1 WITHSCORES); absent when not read. */
  zset?: Array<[Buffer, number]> | null;
  /** Redisson RPermitExpirableSemaphore's ZSET `{<name>}:timeout` (permit id, expiry ms); null when it does not exist; absent when not read. */
  permitTimeouts?: Array<[Buffer, number]> | null;
}

export interface RecognisedLock {
  dialect: Dialect;
  hold: Omit<HoldObservation, 'ttlMs' | 'renewedAt'> | null;
  /** Waiters without `since` (the source tracks first sightings). */
  waiters: Array<Omit<WaiterObservation, 'since'> & { deadline: number | null }> | null;
  /** Redisson RW lock mode, for the release script. */
  mode: 'read' | 'write' | null;
  /** Dialect `unknown`: the key's Redis type (string, hash, list, set, zset, stream…). */
  keyType?: string;
}

const MUTEX_PREFIX = Buffer.from('mutex:', 'latin1');
const RANDOM_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}(-.*)?$/;
const HEX_128 = /^[0-9a-f]{32}$/;
// uuid1().hex: version nibble 1 and an RFC 4122 variant nibble, as redis-py writes.
const UUID1_HEX = /^[0-9a-f]{12}1[0-9a-f]{3}[89ab][0-9a-f]{15}$/;

/**
 * The library holding a string lock, where its key and token leave no doubt, for its
 * default renewal schedule (core near-expiry.ts). redis-semaphore's Mutex keeps
 * `mutex:<name>` = crypto.randomUUID() (optionally `-<suffix>`); redlock v5 writes 16
 * random bytes as hex. redis-py's uuid1().hex has the same length but fixed version and
 * variant nibbles (a random token looks like one 1 time in 64: it is then left unknown).
 */
export function renewingLibraryOf(key: Uint8Array, value: Uint8Array): RenewingLibrary | null {
  if (value.length > 80) return null;
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (k.length > MUTEX_PREFIX.length && k.subarray(0, MUTEX_PREFIX.length).equals(MUTEX_PREFIX) && RANDOM_UUID.test(text)) return 'redis-semaphore';
  if (HEX_128.test(text) && !UUID1_HEX.test(text)) return 'redlock';
  return null;
}

/** Turns raw Redis state into a lock, or null when the key is not a lock (ignored quietly). */
export function recogniseLock(state: RawLockState): RecognisedLock | null {
  const remainingMs = state.pttl >= 0 ? state.pttl : null;
  const fairTrace = state.queue.length > 0 || state.timeouts !== null;
  const waiters = fairTrace ? fairWaiters(state) : null;

  if (state.type === 'string' && state.value !== null) {
    const holdId = stringHoldId(state.value);
    return {
      dialect: 'redis-string',
      hold: { holdId, holder: safeText(state.value), token: null, remainingMs, renewedBy: renewingLibraryOf(state.key, state.value) },
      waiters: null,
      mode: null,
    };
  }
  if (state.type === 'hash' && state.hash !== null) {
    const parsed = parseRedissonHash(state.hash);
    if (parsed === null) return null;
    const holder = parsed.fields.join(', ');
    return {
      dialect: fairTrace ? 'redisson-fair' : 'redisson',
      hold: {
        holdId: parsed.fields.join(','),
        holder: parsed.mode === null ? holder : `${parsed.mode}: ${holder}`,
        token: state.fencingToken === null ? null : safeText(state.fencingToken),
        remainingMs,
      },
      waiters: fairTrace ? waiters : null,
      mode: parsed.mode,
    };
  }
  if (state.type === 'none' && fairTrace) {
    // A fair lock between holders: nobody holds it but the queue is visible.
    return { dialect: 'redisson-fair', hold: null, waiters, mode: null };
  }
  return null;
}

/** Redisson's companion key of RPermitExpirableSemaphore: `{<name>}:timeout`, hash-tagged to the lock's slot. */
export function redissonPermitTimeoutKey(name: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('{', 'latin1'), name, Buffer.from('}:timeout', 'latin1')]);
}

const SEMAPHORE_PREFIX = Buffer.from('semaphore:', 'latin1');
// redis-semaphore members: crypto.randomUUID() (optionally -<suffix>); MultiSemaphore adds _<permit index>.
const SEMAPHORE_MEMBER = /^([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}(?:-[^_]*)?)(?:_(\d+))?$/;

/**
 * Every key under the patterns, as a lock: what recogniseLock knows, the semaphores
 * (several holders, permits used / total), and anything else as dialect `unknown` with
 * its type, so nothing matching the patterns is silently dropped. Pure: the source
 * decides which reads to make (a ZSET's members, Redisson's `{<name>}:timeout`).
 */
export function recogniseKey(state: RawLockState): RecognisedLock | null {
  if (state.type === 'none') return recogniseLock(state);
  const remainingMs = state.pttl >= 0 ? state.pttl : null;
  if (state.type === 'zset' && state.zset) {
    const semaphore = redisSemaphoreOf(state.key, state.zset, remainingMs);
    if (semaphore) return semaphore;
  }
  if (state.type === 'string' && state.value !== null && state.permitTimeouts != null) {
    const semaphore = redissonSemaphoreOf(state.value, state.permitTimeouts, remainingMs);
    if (semaphore) return semaphore;
  }
  const known = recogniseLock(state);
  if (known) return known;
  return {
    dialect: 'unknown',
    hold: { holdId: `unknown:${state.type}`, holder: `${safeText(Buffer.from(state.type, 'latin1'))} key (no known lock layout)`, token: null, remainingMs },
    waiters: null,
    mode: null,
    keyType: state.type,
  };
}

function redisSemaphoreOf(key: Buffer, members: Array<[Buffer, number]>, remainingMs: number | null): RecognisedLock | null {
  if (!(key.length > SEMAPHORE_PREFIX.length && key.subarray(0, SEMAPHORE_PREFIX.length).equals(SEMAPHORE_PREFIX))) return null;
  // One holder per identifier; MultiSemaphore's identifier_0.._n-1 are one holder's permits.
  const permitsOf = new Map<string, number>();
  for (const [member] of members) {
    const m = SEMAPHORE_MEMBER.exec(member.toString('latin1'));
    if (!m) return null;
    permitsOf.set(m[1]!, (permitsOf.get(m[1]!) ?? 0) + 1);
  }
  return semaphoreLock('redis-semaphore', permitsOf, { used: members.length, total: null }, remainingMs);
}

function redissonSemaphoreOf(value: Buffer, timeouts: Array<[Buffer, number]>, remainingMs: number | null): RecognisedLock | null {
  const text = value.toString('latin1');
  if (!/^\d+$/.test(text)) return null;
  const available = Number(text);
  const permitsOf = new Map<string, number>();
  for (const [id] of timeouts) permitsOf.set(id.toString('hex'), 1);
  return semaphoreLock('redisson-semaphore', permitsOf, { used: timeouts.length, total: available + timeouts.length }, remainingMs);
}

function semaphoreLock(dialect: Dialect, permitsOf: Map<string, number>, permits: { used: number; total: number | null }, remainingMs: number | null): RecognisedLock {
  const holders = [...permitsOf.keys()].sort();
  const shown = holders.map((h) => (permitsOf.get(h)! > 1 ? `${h} (${permitsOf.get(h)} permits)` : h));
  const of = permits.total === null ? '' : ` of ${permits.total}`;
  return {
    dialect,
    hold:
      holders.length === 0
        ? null
        : {
            holdId: holders.join(','),
            holder: `${permits.used}${of} permits: ${shown.slice(0, 5).join(', ')}${holders.length > 5 ? `, … (${holders.length} holders)` : ''}`,
            token: null,
            remainingMs,
            holders,
            permits,
          },
    waiters: null,
    mode: null,
  };
}

function fairWaiters(state: RawLockState): Array<Omit<WaiterObservation, 'since'> & { deadline: number | null }> {
  const deadlines = new Map(state.timeouts ?? []);
  return state.queue.map((entry) => {
    const id = entry.toString('latin1');
    return { id, holder: safeText(entry), deadline: deadlines.get(id) ?? null };
  });
}

/**
 * Redis glob matching (the same rules as SCAN MATCH and PSUBSCRIBE: `*`, `?`,
 * `[a-z]`, `[^x]`, backslash escapes) over raw bytes.
 */
export function redisGlobMatch(pattern: string | Uint8Array, key: Uint8Array): boolean {
  const p = typeof pattern === 'string' ? Buffer.from(pattern, 'utf8') : pattern;
  return matchAt(p, 0, key, 0);
}

function matchAt(p: Uint8Array, pi: number, s: Uint8Array, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === 0x2a /* * */) {
      while (pi + 1 < p.length && p[pi + 1] === 0x2a) pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k <= s.length; k++) if (matchAt(p, pi + 1, s, k)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === 0x3f /* ? */) {
      pi++;
      si++;
      continue;
    }
    if (c === 0x5b /* [ */) {
      let i = pi + 1;
      const negate = p[i] === 0x5e; /* ^ */
      if (negate) i++;
      let matched = false;
      while (i < p.length && p[i] !== 0x5d /* ] */) {
        if (p[i] === 0x5c && i + 1 < p.length) {
          i++;
          if (p[i] === s[si]) matched = true;
          i++;
        } else if (i + 2 < p.length && p[i + 1] === 0x2d /* - */ && p[i + 2] !== 0x5d) {
          let lo = p[i]!;
          let hi = p[i + 2]!;
          if (lo > hi) [lo, hi] = [hi, lo];
          if (s[si]! >= lo && s[si]! <= hi) matched = true;
          i += 3;
        } else {
          if (p[i] === s[si]) matched = true;
          i++;
        }
      }
      if (negate) matched = !matched;
      if (!matched) return false;
      pi = i + 1;
      si++;
      continue;
    }
    if (c === 0x5c /* \ */ && pi + 1 < p.length) {
      if (p[pi + 1] !== s[si]) return false;
      pi += 2;
      si++;
      continue;
    }
    if (c !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

/**
 * Best guess of the granted TTL from a PTTL read shortly after the set/expire
 * event. The grant lies in [pttl, pttl + elapsed + lag], where lag (command to
 * our receipt of its notification, unmeasurable) is allowed up to 25 ms for a
 * busy event loop. Clients use round numbers, so the roundest number in that
 * window is picked: exact for 2000 or 30000, at most ~25 ms high otherwise.
 */
export function estimateGrantedTtl(pttl: number, elapsedMs: number): number {
  const hi = pttl + Math.max(0, elapsedMs) + 25;
  for (const step of [1000, 100, 10]) {
    const candidate = Math.ceil(pttl / step) * step;
    if (candidate <= hi) return candidate;
  }
  return pttl;
}

/** Keys to read for a name as `lockctl ls` shows it, or for its exact `hex:` form (see core lookupKeys). */
export function keyCandidates(name: string): Buffer[] {
  return lookupKeys(name).map((key) => Buffer.from(key));
}
