/**
 * Lua bodies following Redis lock clients: compare-then-act for SET NX
 * tokens, and Redisson's RLock / RFairLock / RFencedLock scripts
 * (RedissonLock.tryLockInnerAsync, RedissonFairLock, renewExpirationAsync,
 * unlockInnerAsync) so the keys, hashes, queue and timeout set look exactly
 * like a Java service's.
 */

/** KEYS[1] lock; ARGV[1] token, ARGV[2] ttl ms. 1 when renewed, 0 when the token no longer holds. */
export const SETNX_RENEW = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0`;

/** KEYS[1] lock; ARGV[1] token. 1 when deleted, 0 when someone else holds it. */
export const SETNX_RELEASE = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0`;

/** RLock: KEYS[1] lock; ARGV[1] lease ms, ARGV[2] uuid:threadId. nil when acquired, else the holder's PTTL. */
export const REDISSON_LOCK = `
if ((redis.call('exists', KEYS[1]) == 0) or (redis.call('hexists', KEYS[1], ARGV[2]) == 1)) then
  redis.call('hincrby', KEYS[1], ARGV[2], 1);
  redis.call('pexpire', KEYS[1], ARGV[1]);
  return nil;
end;
return redis.call('pttl', KEYS[1]);`;

/** RFencedLock: as RLock plus INCR of KEYS[2] (redisson_lock_token:{name}); returns {-1, token} or {pttl, -1}. */
export const REDISSON_FENCED_LOCK = `
if ((redis.call('exists', KEYS[1]) == 0) or (redis.call('hexists', KEYS[1], ARGV[2]) == 1)) then
  redis.call('hincrby', KEYS[1], ARGV[2], 1);
  redis.call('pexpire', KEYS[1], ARGV[1]);
  local token = redis.call('incr', KEYS[2]);
  return {-1, token};
end;
return {redis.call('pttl', KEYS[1]), -1};`;

/** Watchdog renewal: KEYS[1] lock; ARGV[1] lease ms, ARGV[2] uuid:threadId. */
export const REDISSON_RENEW = `
if (redis.call('hexists', KEYS[1], ARGV[2]) == 1) then
  redis.call('pexpire', KEYS[1], ARGV[1]);
  return 1;
end;
return 0;`;

/** RLock unlock: KEYS[1] lock, KEYS[2] channel; ARGV[1] unlock message, ARGV[2] lease ms, ARGV[3] uuid:threadId. nil: not ours. */
export const REDISSON_UNLOCK = `
if (redis.call('hexists', KEYS[1], ARGV[3]) == 0) then
  return nil;
end;
local counter = redis.call('hincrby', KEYS[1], ARGV[3], -1);
if (counter > 0) then
  redis.call('pexpire', KEYS[1], ARGV[2]);
  return 0;
else
  redis.call('del', KEYS[1]);
  redis.call('publish', KEYS[2], ARGV[1]);
  return 1;
end;
return nil;`;

const DROP_STALE_WAITERS = `
while true do
  local firstThreadId2 = redis.call('lindex', KEYS[2], 0);
  if firstThreadId2 == false then
    break;
  end;
  local timeout = tonumber(redis.call('zscore', KEYS[3], firstThreadId2));
  if timeout <= tonumber(ARGV[4]) then
    redis.call('zrem', KEYS[3], firstThreadId2);
    redis.call('lpop', KEYS[2]);
  else
    break;
  end;
end;`;

/**
 * RFairLock tryAcquire: KEYS[1] lock, KEYS[2] redisson_lock_queue:{name}, KEYS[3] redisson_lock_timeout:{name};
 * ARGV[1] lease ms, ARGV[2] uuid:threadId, ARGV[3] threadWaitTime ms, ARGV[4] now ms.
 * nil when acquired; otherwise the estimated wait.
 */
export const REDISSON_FAIR_LOCK = `${DROP_STALE_WAITERS}
if (redis.call('exists', KEYS[1]) == 0)
    and ((redis.call('exists', KEYS[2]) == 0)
        or (redis.call('lindex', KEYS[2], 0) == ARGV[2])) then
  redis.call('lpop', KEYS[2]);
  redis.call('zrem', KEYS[3], ARGV[2]);
  local keys = redis.call('zrange', KEYS[3], 0, -1);
  for i = 1, #keys, 1 do
    redis.call('zincrby', KEYS[3], -tonumber(ARGV[3]), keys[i]);
  end;
  redis.call('hset', KEYS[1], ARGV[2], 1);
  redis.call('pexpire', KEYS[1], ARGV[1]);
  return nil;
end;
if redis.call('hexists', KEYS[1], ARGV[2]) == 1 then
  redis.call('hincrby', KEYS[1], ARGV[2], 1);
  redis.call('pexpire', KEYS[1], ARGV[1]);
  return nil;
end;
local timeout = redis.call('zscore', KEYS[3], ARGV[2]);
if timeout ~= false then
  return timeout - tonumber(ARGV[3]) - tonumber(ARGV[4]);
end;
local lastThreadId = redis.call('lindex', KEYS[2], -1);
local ttl;
if lastThreadId ~= false and lastThreadId ~= ARGV[2] then
  ttl = tonumber(redis.call('zscore', KEYS[3], lastThreadId)) - tonumber(ARGV[4]);
else
  ttl = redis.call('pttl', KEYS[1]);
end;
local timeout = ttl + tonumber(ARGV[3]) + tonumber(ARGV[4]);
if redis.call('zadd', KEYS[3], timeout, ARGV[2]) == 1 then
  redis.call('rpush', KEYS[2], ARGV[2]);
end;
return ttl;`;

/** A waiter that gives up leaves the queue (RedissonFairLock.cancelLockAcquire). KEYS[2] queue, KEYS[3] timeouts; ARGV[1] uuid:threadId. */
export const REDISSON_FAIR_CANCEL = `
redis.call('lrem', KEYS[2], 0, ARGV[1]);
redis.call('zrem', KEYS[3], ARGV[1]);
return 1;`;

/**
 * RFairLock unlock: KEYS[1] lock, KEYS[2] queue, KEYS[3] timeouts, KEYS[4] channel;
 * ARGV[1] unlock message, ARGV[2] lease ms, ARGV[3] uuid:threadId, ARGV[4] now ms.
 */
export const REDISSON_FAIR_UNLOCK = `${DROP_STALE_WAITERS}
if (redis.call('exists', KEYS[1]) == 0) then
  local nextThreadId = redis.call('lindex', KEYS[2], 0);
  if nextThreadId ~= false then
    redis.call('publish', KEYS[4] .. ':' .. nextThreadId, ARGV[1]);
  end;
  return 1;
end;
if (redis.call('hexists', KEYS[1], ARGV[3]) == 0) then
  return nil;
end;
local counter = redis.call('hincrby', KEYS[1], ARGV[3], -1);
if (counter > 0) then
  redis.call('pexpire', KEYS[1], ARGV[2]);
  return 0;
end;
redis.call('del', KEYS[1]);
local nextThreadId = redis.call('lindex', KEYS[2], 0);
if nextThreadId ~= false then
  redis.call('publish', KEYS[4] .. ':' .. nextThreadId, ARGV[1]);
end;
return 1;`;
