import type { Redis } from 'ioredis';
import { displayKey, LockscopeError, type LiveLock } from '@lockscope/core';
import type { ReleaseRequest, ReleaseResult } from '../source.js';
import { redissonKey, REDISSON_CHANNEL_PREFIX, REDISSON_QUEUE_PREFIX, REDISSON_RWLOCK_CHANNEL_PREFIX } from './redis-dialect.js';

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

/** The hold id as the Lua scripts compare it: a raw token, or a SHA-1 for huge/binary tokens. */
function holdIdForScript(holdId: string): { compared: string; mode: 'eq' | 'sha1' } {
  return holdId.startsWith('sha1:') ? { compared: holdId.slice(5), mode: 'sha1' } : { compared: holdId, mode: 'eq' };
}

/** Whether the hold `holdId` of `key` still exists, and its PTTL (-2 when it does not). */
export async function readLease(client: Redis, key: Uint8Array, holdId: string): Promise<{ exists: boolean; pttl: number }> {
  const { compared, mode } = holdIdForScript(holdId);
  const reply = await client.eval(CHECK_LEASE_SCRIPT, 1, Buffer.from(key), compared, mode);
  const [exists, pttl] = (reply as [number, number]).map(Number) as [number, number];
  return { exists: exists === 1, pttl };
}

export interface ReleaseContext {
  source: string;
  /** `lock` as read just now (by get()), null when the lock is not there. */
  lock: LiveLock | null;
  /** Whether the source has seen this lock before (a lock it knows is free, not unknown). */
  known: boolean;
  /** Where the lock was looked for, for the LOCK_NOT_FOUND message. */
  where: string;
  /** Maps a failed script call to SOURCE_UNREACHABLE / SOURCE_MISCONFIGURED. */
  failure: (error: unknown, what: string) => LockscopeError;
}

/**
 * Guarded force-release of exactly the observed hold: refuses when the lock is
 * not what the caller saw, then one Lua compare-and-delete.
 */
export async function releaseLock(client: Redis, request: ReleaseRequest, context: ReleaseContext): Promise<ReleaseResult> {
  const { source, lock } = context;
  if (lock === null) {
    throw context.known
      ? new LockscopeError('LOCK_FREE', `Lock "${request.name}" on ${source} is free: nothing to release.`)
      : new LockscopeError('LOCK_NOT_FOUND', `No lock "${request.name}" on ${source} ${context.where}; check the name with \`lockctl ls --source ${source}\`.`);
  }
  if (lock.hold === null) throw new LockscopeError('LOCK_FREE', `Lock "${request.name}" on ${source} is free (it has waiters but no holder): nothing to release.`);
  const hold = lock.hold;
  const changed =
    (request.expectHoldId !== undefined && request.expectHoldId !== hold.holdId) ||
    (request.expectHolder != null && request.expectHolder !== hold.holder) ||
    (request.expectToken != null && request.expectToken !== hold.token);
  if (changed) throw holderChanged(source, request, lock);

  const isString = lock.dialect === 'redis-string';
  const channel = isString
    ? null
    : hold.holder.startsWith('read: ') || hold.holder.startsWith('write: ')
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
    throw context.failure(error, 'the release script');
  }
  if (result === 0) throw new LockscopeError('LOCK_FREE', `Lock "${request.name}" on ${source} was released by someone else just now: nothing deleted.`);
  if (result !== 1) throw holderChanged(source, request, lock);
  return { released: true, lock, actions };
}

function holderChanged(source: string, request: ReleaseRequest, lock: LiveLock): LockscopeError {
  return new LockscopeError(
    'HOLDER_CHANGED',
    `Lock "${request.name}" on ${source} changed holder since you looked (now ${lock.hold?.holder ?? 'free'}); nothing was deleted. Look again and retry if it is still stuck.`,
    { details: { source, name: request.name, holder: lock.hold?.holder ?? null, holdId: lock.hold?.holdId ?? null } },
  );
}
