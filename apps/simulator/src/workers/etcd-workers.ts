import { sleep } from '../abortable.js';
import { loopUntilStopped, thinkMs, type Worker, type WorkerContext } from '../context.js';
import { EtcdMutex } from '../etcd/recipe.js';
import { EtcdSession } from '../etcd/session.js';
import { activeContenders } from '../plan.js';

/** Holds the lock while `during` runs, then releases; a lost session skips the release (the key is already gone). */
async function withSession<T>(ctx: WorkerContext, ttlSec: number, fn: (session: EtcdSession) => Promise<T>): Promise<T> {
  const session = await EtcdSession.open(ctx.etcd, ttlSec);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/**
 * Cron leaders: candidates campaign with Go's Election recipe (the key's value
 * is the candidate), the leader holds for a long time, proclaims each run, and
 * resigns; the lease is kept alive every TTL/3 throughout.
 */
export function leaderCandidate(candidate: string): Worker {
  return async (ctx) => {
    const { leader, rate } = ctx.plan;
    const rng = ctx.rng(`leader:${candidate}`);
    // Candidates start a little apart so the first leader is a seeded choice, not a race.
    await sleep(rng.between(0, 1_500), ctx.signal);
    await loopUntilStopped(ctx, candidate, () =>
      withSession(ctx, leader.ttlSec, async (session) => {
        while (!ctx.signal.aborted && !session.lost) {
          const election = new EtcdMutex(ctx.etcd, session, leader.lock, candidate);
          const won = await election.lock(ctx.signal);
          ctx.emit({ type: 'acquired', pattern: 'leader', lock: leader.lock, worker: candidate, token: won.token.toString(), waited: won.waited, waitedMs: won.waitedMs });
          ctx.log(`leader: ${candidate} leads ${leader.lock} (token ${won.token})`);
          const until = ctx.elapsedMs() + rng.between(leader.holdMs[0], leader.holdMs[1]);
          let run = 0;
          try {
            while (!ctx.signal.aborted && ctx.elapsedMs() < until && !session.lost) {
              await sleep(Math.min(leader.proclaimEveryMs, until - ctx.elapsedMs()), ctx.signal);
              if (ctx.signal.aborted) break;
              run++;
              if (!(await election.proclaim(`${candidate} run #${run}`))) break;
            }
          } finally {
            if (!session.lost) await election.unlock().catch(() => undefined);
          }
          ctx.emit({ type: 'released', pattern: 'leader', lock: leader.lock, worker: candidate });
          await sleep(rng.between(1_000, 3_000) / Math.max(rate, 0.1), ctx.signal);
        }
      }),
    );
  };
}

/**
 * A hot inventory lock: many order workers reserve stock under per-SKU etcd
 * mutexes, SKU 0 by far the most popular. The number of active workers rises
 * and falls over a load cycle, so waiters and acquisition latency grow at peak.
 */
export function inventoryContender(index: number): Worker {
  const name = `order-worker-${index + 1}`;
  return async (ctx) => {
    const { inventory, rate } = ctx.plan;
    const rng = ctx.rng(`inventory:${index}`);
    await loopUntilStopped(ctx, name, () =>
      withSession(ctx, inventory.ttlSec, async (session) => {
        while (!ctx.signal.aborted && !session.lost) {
          if (index >= activeContenders(ctx.elapsedMs(), inventory.loadCycleMs, inventory.contenders)) {
            await sleep(500, ctx.signal);
            continue;
          }
          const sku = inventory.locks[rng.weighted(inventory.weights)]!;
          const mutex = new EtcdMutex(ctx.etcd, session, sku);
          const got = await mutex.lock(ctx.signal);
          ctx.emit({ type: 'acquired', pattern: 'inventory', lock: sku, worker: name, token: got.token.toString(), waited: got.waited, waitedMs: got.waitedMs });
          try {
            await sleep(rng.between(20, 120), ctx.signal);
          } finally {
            await mutex.unlock().catch(() => undefined);
          }
          ctx.emit({ type: 'released', pattern: 'inventory', lock: sku, worker: name });
          await sleep(thinkMs(rng, rate * 2), ctx.signal);
        }
      }),
    );
  };
}

/**
 * Pricing workers whose critical section calls a dependency that is normally
 * fast and, during seeded windows, slow: contenders queue behind the slow
 * holder and P95 acquisition latency climbs over 50 ms for the window.
 */
export function slowDependencyWorker(index: number): Worker {
  const name = `pricing-worker-${index + 1}`;
  return async (ctx) => {
    const { slow, rate } = ctx.plan;
    const rng = ctx.rng(`slow:${index}`);
    await loopUntilStopped(ctx, name, () =>
      withSession(ctx, 10, async (session) => {
        while (!ctx.signal.aborted && !session.lost) {
          const mutex = new EtcdMutex(ctx.etcd, session, slow.lock);
          const got = await mutex.lock(ctx.signal);
          ctx.emit({ type: 'acquired', pattern: 'slow-dependency', lock: slow.lock, worker: name, token: got.token.toString(), waited: got.waited, waitedMs: got.waitedMs });
          const slowNow = slow.windows?.contains(ctx.elapsedMs()) ?? false;
          const [lo, hi] = slowNow ? slow.slowMs : slow.normalMs;
          try {
            await sleep(rng.between(lo, hi), ctx.signal);
          } finally {
            await mutex.unlock().catch(() => undefined);
          }
          ctx.emit({ type: 'released', pattern: 'slow-dependency', lock: slow.lock, worker: name });
          // While the dependency is slow, callers retry sooner (their requests time out), which keeps a queue.
          await sleep(slowNow ? rng.between(5, 40) : thinkMs(rng, rate * 2), ctx.signal);
        }
      }),
    );
  };
}

/** Announces slow-dependency windows as they open and close. */
export const slowDependencyAnnouncer: Worker = async (ctx) => {
  const windows = ctx.plan.slow.windows;
  if (!windows) return;
  let active = false;
  while (!ctx.signal.aborted) {
    const now = windows.contains(ctx.elapsedMs());
    if (now !== active) {
      active = now;
      ctx.emit({ type: 'slow-dependency', active });
      ctx.log(`slow-dependency: ${active ? 'on' : 'off'} for ${ctx.plan.slow.lock}${active ? ` (calls take ${ctx.plan.slow.slowMs[0]}-${ctx.plan.slow.slowMs[1]} ms)` : ''}`);
    }
    await sleep(250, ctx.signal);
  }
};

/**
 * A report generator that crashes while holding: it stops its keepalive and
 * drops its connection without revoking, so etcd deletes the key when the
 * lease lapses (the hold ends as expired), then it restarts.
 */
export const etcdCrashWorker: Worker = async (ctx) => {
  const { crash } = ctx.plan;
  const name = 'report-worker-1';
  const rng = ctx.rng('crash:etcd');
  let nextCrashAt = crash.times?.at(0) ?? Number.POSITIVE_INFINITY;
  await loopUntilStopped(ctx, name, async () => {
    const client = ctx.newEtcd();
    let crashed = false;
    let session: EtcdSession | null = null;
    try {
      session = await EtcdSession.open(client, crash.ttlSec);
      while (!ctx.signal.aborted && !crashed) {
        const mutex = new EtcdMutex(client, session, crash.etcdLock);
        const got = await mutex.lock(ctx.signal);
        ctx.emit({ type: 'acquired', pattern: 'crash', lock: crash.etcdLock, worker: name, token: got.token.toString(), waited: got.waited, waitedMs: got.waitedMs });
        const until = ctx.elapsedMs() + rng.between(15_000, 30_000);
        while (!ctx.signal.aborted && ctx.elapsedMs() < until) {
          if (ctx.elapsedMs() >= nextCrashAt) {
            crashed = true;
            break;
          }
          await sleep(Math.min(250, until - ctx.elapsedMs()), ctx.signal);
        }
        if (crashed) break;
        await mutex.unlock().catch(() => undefined);
        ctx.emit({ type: 'released', pattern: 'crash', lock: crash.etcdLock, worker: name });
        await sleep(rng.between(1_000, 3_000), ctx.signal);
      }
    } finally {
      if (crashed && session) {
        session.abandon();
        client.close();
        nextCrashAt = crash.times?.nextAfter(ctx.elapsedMs()) ?? Number.POSITIVE_INFINITY;
        ctx.emit({ type: 'crash', lock: crash.etcdLock, worker: name });
        ctx.log(`crash: ${name} died holding ${crash.etcdLock}; lease ${session.leaseHex} (${crash.ttlSec}s) will lapse`);
      } else {
        await session?.close();
        client.close();
      }
    }
    if (crashed) {
      await sleep(crash.restartAfterMs, ctx.signal);
      if (!ctx.signal.aborted) ctx.emit({ type: 'restart', lock: crash.etcdLock, worker: name });
    }
  });
};

/**
 * Two payment workers on one etcd mutex guarding a fenced ledger. Worker 1
 * freezes while holding (a long GC pause: no keepalive): near expiry, then the
 * lease lapses, worker 2 takes over and writes with a newer token; when
 * worker 1 wakes it still believes it holds the lock and writes with its old
 * token, which the resource refuses.
 */
export function etcdPaymentsWorker(index: number): Worker {
  const name = `payments-worker-${index + 1}`;
  const stalls = index === 0;
  return async (ctx) => {
    const { stall } = ctx.plan;
    const rng = ctx.rng(`stall:etcd:${index}`);
    const resource = ctx.resource(stall.etcdLock);
    let stallK = 0;
    await loopUntilStopped(ctx, name, () =>
      withSession(ctx, stall.ttlSec, async (session) => {
        while (!ctx.signal.aborted && !session.lost) {
          const mutex = new EtcdMutex(ctx.etcd, session, stall.etcdLock);
          const got = await mutex.lock(ctx.signal);
          ctx.emit({ type: 'acquired', pattern: 'stall', lock: stall.etcdLock, worker: name, token: got.token.toString(), waited: got.waited, waitedMs: got.waitedMs });
          const write = (what: string): boolean => {
            const result = resource.write(got.token, name, what);
            ctx.emit({ type: 'fencing', backend: 'etcd', accepted: result.accepted, resource: stall.etcdLock, worker: name, token: got.token.toString(), highest: result.accepted ? null : result.highest.toString() });
            if (!result.accepted) ctx.log(`fencing: refused stale token ${result.token} < ${result.highest} on ${stall.etcdLock} (writer ${name}, current holder ${result.highestWriter})`);
            return result.accepted;
          };
          write(`${name} settles batch`);
          const stallAt = stalls && stall.times ? stall.times.at(stallK) : Number.POSITIVE_INFINITY;
          if (ctx.elapsedMs() >= stallAt) {
            stallK++;
            session.pause();
            ctx.emit({ type: 'stall', phase: 'start', lock: stall.etcdLock, worker: name, pauseMs: stall.pauseMs });
            ctx.log(`stall: ${name} paused ${stall.pauseMs} ms holding ${stall.etcdLock} (token ${got.token}, lease ${stall.ttlSec}s, no keepalive)`);
            await sleep(stall.pauseMs, ctx.signal);
            if (ctx.signal.aborted) return;
            ctx.emit({ type: 'stall', phase: 'end', lock: stall.etcdLock, worker: name, pauseMs: stall.pauseMs });
            // It wakes up believing it still holds the lock and carries on with its write.
            write(`${name} settles batch after pause`);
            const stillOwner = await mutex.isOwner().catch(() => false);
            ctx.emit({ type: 'lost', pattern: 'stall', lock: stall.etcdLock, worker: name, reason: stillOwner ? 'kept' : 'lease expired during pause' });
            ctx.log(`stall: ${name} woke up; ${stillOwner ? 'still the holder' : `lost ${stall.etcdLock} while paused`}`);
            return;
          }
          try {
            const until = ctx.elapsedMs() + rng.between(300, 1_200);
            while (!ctx.signal.aborted && ctx.elapsedMs() < until) {
              await sleep(200, ctx.signal);
              write(`${name} settles batch`);
            }
          } finally {
            await mutex.unlock().catch(() => undefined);
          }
          ctx.emit({ type: 'released', pattern: 'stall', lock: stall.etcdLock, worker: name });
          await sleep(rng.between(100, 600), ctx.signal);
        }
      }),
    );
  };
}
