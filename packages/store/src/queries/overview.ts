import { bucketOf, DIALECTS, type Dialect } from '@lockscope/core';
import { dialectShowsWaiters } from './lock-view.js';
import { ms, readStore, type QueryDb } from './query-db.js';
import { MergedSketch } from './sketch-merge.js';

export interface OverviewOptions {
  db: QueryDb;
  /** Wall ms "now"; injectable for tests. */
  now?: number;
  /** A source is down when it is disconnected or silent for longer than this. */
  sourceDownAfterMs?: number;
}

export interface Overview {
  at: number;
  locks: number;
  locksHeld: number;
  nearExpiryNow: number;
  /** Locks whose dialect shows waiters and that have some now. */
  locksWithWaiters: number;
  /** Whether any lock in the fleet has a dialect where waiters (and so acquisition latency) can be seen. */
  waitersObservable: boolean;
  acquisition: {
    windowMs: number;
    /** Fleet P95 over the window, merged from rollup sketches; null when nothing was observed. */
    p95Ms: number | null;
    samples: number;
  };
  expirationsLastHour: number;
  sources: { total: number; up: number; down: number };
  openAlerts: number;
}

const FIVE_MINUTES = 5 * 60_000;
const ONE_HOUR = 60 * 60_000;

export async function getOverview({ db, now = Date.now(), sourceDownAfterMs = 30_000 }: OverviewOptions): Promise<Overview> {
  return readStore('overview', async () => {
    const nowBig = BigInt(now);
    const observableDialects = DIALECTS.filter((d: Dialect) => dialectShowsWaiters(d));
    const [locks, locksHeld, nearExpiryNow, locksWithWaiters, observableLocks, rollups, expirations, sources, openAlerts] = await Promise.all([
      db.lock.count(),
      db.lock.count({ where: { held: true } }),
      db.lock.count({ where: { held: true, nearExpiryAt: { lte: nowBig } } }),
      db.lock.count({ where: { waiters: { gt: 0 }, dialect: { in: observableDialects } } }),
      db.lock.count({ where: { dialect: { in: observableDialects } } }),
      // Raw: Prisma's findMany costs several times the query itself for thousands of blobs.
      db.$queryRaw<{ sketch: Uint8Array }[]>`SELECT "acqLatencySketch" AS "sketch" FROM "Rollup" WHERE "bucket" >= ${BigInt(bucketOf(now - FIVE_MINUTES))} AND "acqLatencySketch" IS NOT NULL`,
      // Exactly the last hour, from holds (indexed by endedAt) rather than minute rollups.
      db.hold.count({ where: { endedAt: { gte: BigInt(now - ONE_HOUR) }, endReason: 'expired' } }),
      db.source.findMany({ select: { connected: true, lastSeenAt: true, updatedAt: true } }),
      db.alert.count({ where: { state: 'firing' } }),
    ]);
    const sketch = new MergedSketch();
    for (const r of rollups) sketch.add(r.sketch);
    const up = sources.filter((s) => sourceIsUp(s.connected, lastHeard(ms(s.lastSeenAt), ms(s.updatedAt)), now, sourceDownAfterMs)).length;
    return {
      at: now,
      locks,
      locksHeld,
      nearExpiryNow,
      locksWithWaiters,
      waitersObservable: observableLocks > 0,
      acquisition: { windowMs: FIVE_MINUTES, p95Ms: sketch.quantile(0.95), samples: sketch.count },
      expirationsLastHour: expirations,
      sources: { total: sources.length, up, down: sources.length - up },
      openAlerts,
    };
  });
}

/** The collector touches a source row on every event and health check; the later of the two is the last sign of life. */
export function lastHeard(lastSeenAt: number | null, updatedAt: number): number {
  return Math.max(lastSeenAt ?? 0, updatedAt);
}

export function sourceIsUp(connected: boolean, lastSeenAt: number | null, now: number, downAfterMs: number): boolean {
  if (!connected) return false;
  return lastSeenAt === null || now - lastSeenAt <= downAfterMs;
}
