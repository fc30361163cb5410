import type { Redis } from 'ioredis';
import {
  recogniseLock,
  redissonCompanionName,
  REDISSON_QUEUE_PREFIX,
  REDISSON_TIMEOUT_PREFIX,
  REDISSON_TOKEN_PREFIX,
  type RawLockState,
  type RecognisedLock,
} from './redis-dialect.js';
import { isRedissonAuxiliary } from './redis-reconciler.js';

const SCAN_COUNT = 1000;
const FETCH_BATCH = 500;

/**
 * One key's state per entry: {type, value, hash (flat), pttl, queue, timeouts (flat), token}.
 * The one way the source reads a lock (notifications, resync, list, get): ONE command for
 * many keys. Pipelining the same reads cost seven commands per key (and a WRONGTYPE error
 * for every blind read), which is what capped the watch under load.
 */
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

/** Teaches a command client the fetch script (ioredis sends it as EVALSHA, loading it once). */
export function defineFetchCommand(client: Redis): void {
  client.defineCommand('lockscopeFetch', { lua: FETCH_LUA });
}

/** The state of each key, in order, FETCH_BATCH keys per script call. */
export async function fetchStates(client: Redis, keys: Buffer[]): Promise<RawLockState[]> {
  const out: RawLockState[] = [];
  for (let i = 0; i < keys.length; i += FETCH_BATCH) {
    const chunk = keys.slice(i, i + FETCH_BATCH);
    const reply = (await (client as unknown as ScriptedClient).lockscopeFetchBuffer(chunk.length, ...chunk)) as unknown[];
    for (let k = 0; k < chunk.length; k++) out.push(parseFetchReply(chunk[k]!, reply[k]));
  }
  return out;
}

export interface FetchedLock {
  key: Buffer;
  lock: RecognisedLock;
}

/**
 * SCAN every pattern (and Redisson's fair-lock queues), then read the keys with
 * the fetch script, FETCH_BATCH per call. The script reads values only of
 * strings and hashes: an unrelated key under a pattern costs its TYPE and PTTL
 * inside the script, and its value is never read.
 */
export async function scanLocks(
  client: Redis,
  patterns: string[],
  matchesPatterns: (key: Uint8Array) => boolean,
  onBatch: (fetched: FetchedLock[]) => void,
): Promise<void> {
  const candidates = new Map<string, Buffer>();
  for (const pattern of patterns) {
    await scanPattern(client, pattern, (key) => {
      if (redissonCompanionName(key) || isRedissonAuxiliary(key)) return;
      candidates.set(key.toString('hex'), key);
    });
  }
  // Fair locks between holders exist only as their queue/timeout keys. One pass over
  // `redisson_lock_*` finds both kinds (each SCAN pass walks the whole keyspace).
  await scanPattern(client, 'redisson_lock_*', (key) => {
    const name = redissonCompanionName(key);
    if (name && matchesPatterns(name)) candidates.set(name.toString('hex'), name);
  });
  const all = [...candidates.values()];
  for (let i = 0; i < all.length; i += FETCH_BATCH) {
    const chunk = all.slice(i, i + FETCH_BATCH);
    const states = await fetchStates(client, chunk);
    const fetched: FetchedLock[] = [];
    states.forEach((state, j) => {
      const lock = recogniseLock(state);
      if (lock) fetched.push({ key: chunk[j]!, lock });
    });
    onBatch(fetched);
  }
}

async function scanPattern(client: Redis, pattern: string, onKey: (key: Buffer) => void): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next.toString('latin1');
    for (const key of keys) onKey(key);
  } while (cursor !== '0');
}

/** One entry of the fetch script's reply as RawLockState (a missing or odd entry reads as an absent key). */
export function parseFetchReply(key: Buffer, raw: unknown): RawLockState {
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
