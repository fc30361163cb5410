import { randomBytes } from 'node:crypto';
import { sleep } from '../abortable.js';
import { loopUntilStopped, thinkMs, type Worker } from '../context.js';
import { RedissonLock, SetNxLock, redissonClientId } from '../redis/locks.js';
import { RenewalLoop } from '../renewal-loop.js';

/**
 * Job runners using plain `SET key token NX PX ttl`: a failed attempt is
 * retried with jittered backoff (waiters leave no trace in Redis), a held
 * lock is extended with a compare-then-PEXPIRE every TTL/3, and released with
 * a compare-and-delete.
 */
export function setNxWorker(index: number): Worker {
  const name = `job-runner-${index + 1}`;
  return async (ctx) => {
    const { setnx, rate } = ctx.plan;
    const rng = ctx.rng(`setnx:${index}`);
    await loopUntilStopped(ctx, name, async () => {
      const key = setnx.locks[rng.int(0, setnx.locks.length - 1)]!;
      const lock = new SetNxLock(ctx.redis, key, setnx.ttlMs);
      const token = randomBytes(16).toString('hex');
      const started = performance.now();
      let acquired = false;
      let attempts = 0;
      while (!ctx.signal.aborted && performance.now() - started < 3_000) {
        attempts++;
        if (await lock.tryAcquire(token)) {
          acquired = true;
          break;
        }
        await sleep(rng.between(25, 100), ctx.signal);
      }
      if (!acquired) {
        await sleep(thinkMs(rng, rate), ctx.signal);
        return;
      }
      ctx.emit({ type: 'acquired', pattern: 'redis-setnx', lock: key, worker: name, token: null, waited: attempts > 1, waitedMs: performance.now() - started });
      const renewal = new RenewalLoop(Math.floor(setnx.ttlMs / 3), () => lock.renew(token));
      try {
        // Mostly short jobs; one in five runs past the TTL so renewals show.
        const holdMs = rng.next() < 0.2 ? rng.between(setnx.ttlMs * 1.2, setnx.ttlMs * 2) : rng.between(300, 3_000);
        const until = ctx.elapsedMs() + holdMs;
        while (!ctx.signal.aborted && ctx.elapsedMs() < until && !renewal.lost) await sleep(Math.min(250, until - ctx.elapsedMs()), ctx.signal);
      } finally {
        renewal.stop();
        const released = await lock.release(token).catch(() => false);
        if (!released) ctx.emit({ type: 'lost', pattern: 'redis-setnx', lock: key, worker: name, reason: 'token no longer held at release' });
      }
      ctx.emit({ type: 'released', pattern: 'redis-setnx', lock: key, worker: name });
      await sleep(thinkMs(rng, rate), ctx.signal);
    });
  };
}

/**
 * Java order services on a Redisson RLock (or RFairLock): hash field
 * `<client uuid>:<thread id>`, 30 s lease renewed by the watchdog every 10 s.
 * Waiters poll as Redisson does after its pub/sub wake-up; fair waiters stay
 * in the queue LIST and timeout ZSET, in order.
 */
export function redissonWorker(kind: 'redisson' | 'redisson-fair', index: number, clientUuid: string): Worker {
  const fair = kind === 'redisson-fair';
  const name = `${fair ? 'checkout' : 'order'}-service-${index + 1}`;
  return async (ctx) => {
    const cfg = fair ? ctx.plan.fair : ctx.plan.redisson;
    const rng = ctx.rng(`${kind}:${index}`);
    // Thread ids like a JVM's pool threads; stable per seed.
    const threadId = 40 + index * 7 + rng.int(0, 5);
    const lock = new RedissonLock(ctx.redis, cfg.lock, clientUuid, threadId, { fair, leaseMs: cfg.watchdogMs, ...(fair ? { threadWaitMs: ctx.plan.fair.threadWaitMs } : {}) });
    await loopUntilStopped(ctx, name, async () => {
      const started = performance.now();
      let waited = false;
      try {
        for (;;) {
          if (ctx.signal.aborted) return;
          const r = await lock.tryLock();
          if (r.acquired) break;
          waited = true;
          await sleep(Math.max(20, Math.min(r.waitMs, fair ? 100 : 250)), ctx.signal);
        }
      } catch (error) {
        await lock.cancelWait().catch(() => undefined);
        throw error;
      } finally {
        if (ctx.signal.aborted) await lock.cancelWait().catch(() => undefined);
      }
      ctx.emit({ type: 'acquired', pattern: kind, lock: cfg.lock, worker: name, token: null, waited, waitedMs: performance.now() - started });
      const watchdog = new RenewalLoop(cfg.renewEveryMs, () => lock.renew());
      try {
        const holdMs = fair ? rng.between(100, 500) : rng.next() < 0.3 ? rng.between(11_000, 25_000) : rng.between(1_000, 6_000);
        const until = ctx.elapsedMs() + holdMs;
        while (!ctx.signal.aborted && ctx.elapsedMs() < until && !watchdog.lost) await sleep(Math.min(250, until - ctx.elapsedMs()), ctx.signal);
      } finally {
        watchdog.stop();
        await lock.unlock().catch(() => null);
      }
      ctx.emit({ type: 'released', pattern: kind, lock: cfg.lock, worker: name });
      await sleep(fair ? rng.between(300, 1_500) : thinkMs(rng, ctx.plan.rate / 2), ctx.signal);
    });
  };
}

/** Two JVMs: the first runs two threads, the second one (fair: two and two). */
export function redissonFleet(kind: 'redisson' | 'redisson-fair', workers: number): Worker[] {
  const jvms = [redissonClientId(), redissonClientId()];
  return Array.from({ length: workers }, (_, i) => redissonWorker(kind, i, jvms[i < Math.ceil(workers / 2) ? 0 : 1]!));
}

/**
 * Two ledger writers on a Redisson RFencedLock (token from INCR
 * redisson_lock_token:{name}). Writer 1 freezes while holding: its watchdog
 * stops, the hash expires, writer 2 acquires with a higher token and writes;
 * writer 1 wakes and its stale write is refused by the fenced resource.
 */
export function redisLedgerWorker(index: number, clientUuid: string): Worker {
  const name = `ledger-writer-${index + 1}`;
  const stalls = index === 0;
  return async (ctx) => {
    const { stall } = ctx.plan;
    const rng = ctx.rng(`stall:redis:${index}`);
    const resource = ctx.resource(stall.redisLock);
    const lock = new RedissonLock(ctx.redis, stall.redisLock, clientUuid, 70 + index, { fenced: true, leaseMs: stall.redisLeaseMs });
    let stallK = 0;
    await loopUntilStopped(ctx, name, async () => {
      const started = performance.now();
      let token: bigint | null = null;
      let waited = false;
      while (!ctx.signal.aborted) {
        const r = await lock.tryLock();
        if (r.acquired) {
          token = r.token;
          break;
        }
        waited = true;
        await sleep(Math.max(20, Math.min(r.waitMs, 50)), ctx.signal);
      }
      if (token === null) return;
      const held = token;
      ctx.emit({ type: 'acquired', pattern: 'stall', lock: stall.redisLock, worker: name, token: held.toString(), waited, waitedMs: performance.now() - started });
      const write = (what: string): boolean => {
        const result = resource.write(held, name, what);
        ctx.emit({ type: 'fencing', backend: 'redis', accepted: result.accepted, resource: stall.redisLock, worker: name, token: held.toString(), highest: result.accepted ? null : result.highest.toString() });
        if (!result.accepted) ctx.log(`fencing: refused stale token ${result.token} < ${result.highest} on ${stall.redisLock} (writer ${name}, current holder ${result.highestWriter})`);
        return result.accepted;
      };
      const watchdog = new RenewalLoop(Math.floor(stall.redisLeaseMs / 3), () => lock.renew());
      let releasable = true;
      try {
        write(`${name} appends entry`);
        const stallAt = stalls && stall.times ? stall.times.at(stallK) : Number.POSITIVE_INFINITY;
        if (ctx.elapsedMs() >= stallAt) {
          stallK++;
          watchdog.pause();
          ctx.emit({ type: 'stall', phase: 'start', lock: stall.redisLock, worker: name, pauseMs: stall.pauseMs });
          ctx.log(`stall: ${name} paused ${stall.pauseMs} ms holding ${stall.redisLock} (token ${held}, lease ${stall.redisLeaseMs} ms, watchdog frozen)`);
          await sleep(stall.pauseMs, ctx.signal);
          if (ctx.signal.aborted) return;
          ctx.emit({ type: 'stall', phase: 'end', lock: stall.redisLock, worker: name, pauseMs: stall.pauseMs });
          write(`${name} appends entry after pause`);
          const released = await lock.unlock().catch(() => null);
          releasable = false;
          ctx.emit({ type: 'lost', pattern: 'stall', lock: stall.redisLock, worker: name, reason: released === null ? 'lease expired during pause' : 'kept' });
          ctx.log(`stall: ${name} woke up; ${released === null ? `lost ${stall.redisLock} while paused` : 'still the holder'}`);
          return;
        }
        const until = ctx.elapsedMs() + rng.between(300, 1_200);
        while (!ctx.signal.aborted && ctx.elapsedMs() < until) {
          await sleep(200, ctx.signal);
          write(`${name} appends entry`);
        }
      } finally {
        watchdog.stop();
        if (releasable) await lock.unlock().catch(() => null);
      }
      ctx.emit({ type: 'released', pattern: 'stall', lock: stall.redisLock, worker: name });
      await sleep(rng.between(100, 600), ctx.signal);
    });
  };
}

/**
 * An export job on a SET NX lock that crashes while holding: its renewal stops
 * and its connection drops without a release, so the key expires.
 */
export const redisCrashWorker: Worker = async (ctx) => {
  const { crash } = ctx.plan;
  const name = 'export-worker-1';
  const rng = ctx.rng('crash:redis');
  let nextCrashAt = crash.times?.at(0) ?? Number.POSITIVE_INFINITY;
  await loopUntilStopped(ctx, name, async () => {
    const redis = ctx.newRedis();
    const lock = new SetNxLock(redis, crash.redisLock, crash.redisTtlMs);
    let crashed = false;
    try {
      while (!ctx.signal.aborted && !crashed) {
        const token = randomBytes(16).toString('hex');
        if (!(await lock.tryAcquire(token))) {
          await sleep(rng.between(100, 300), ctx.signal);
          continue;
        }
        ctx.emit({ type: 'acquired', pattern: 'crash', lock: crash.redisLock, worker: name, token: null, waited: false, waitedMs: 0 });
        const renewal = new RenewalLoop(Math.floor(crash.redisTtlMs / 3), () => lock.renew(token));
        try {
          const until = ctx.elapsedMs() + rng.between(15_000, 30_000);
          while (!ctx.signal.aborted && ctx.elapsedMs() < until) {
            if (ctx.elapsedMs() >= nextCrashAt) {
              crashed = true;
              break;
            }
            await sleep(Math.min(250, until - ctx.elapsedMs()), ctx.signal);
          }
        } finally {
          renewal.stop();
          if (!crashed) await lock.release(token).catch(() => false);
        }
        if (crashed) break;
        ctx.emit({ type: 'released', pattern: 'crash', lock: crash.redisLock, worker: name });
        await sleep(rng.between(1_000, 3_000), ctx.signal);
      }
    } finally {
      redis.disconnect();
    }
    if (crashed) {
      nextCrashAt = crash.times?.nextAfter(ctx.elapsedMs()) ?? Number.POSITIVE_INFINITY;
      ctx.emit({ type: 'crash', lock: crash.redisLock, worker: name });
      ctx.log(`crash: ${name} died holding ${crash.redisLock}; the key expires in ${crash.redisTtlMs} ms`);
      await sleep(crash.restartAfterMs, ctx.signal);
      if (!ctx.signal.aborted) ctx.emit({ type: 'restart', lock: crash.redisLock, worker: name });
    }
  });
};
