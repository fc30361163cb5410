import type { StoreClient } from './store-client.js';

/** A completed `lockctl release` (audit action force_release, result released). */
export interface ForceReleaseAudit {
  id: bigint;
  at: number;
  source: string;
  lockName: string;
  holder: string | null;
  token: string | null;
}

/** How far a hold's recorded end may be from the audit record's time and still be that release. */
const MATCH_WINDOW_MS = 120_000;

/**
 * Completed force-releases recorded after `afterId` (or, with null, those of the last
 * `lookbackMs`): what the collector turns into force_released ends. Reads by primary key.
 */
export async function listForceReleases(prisma: StoreClient, afterId: bigint | null, lookbackMs: number, now: number): Promise<ForceReleaseAudit[]> {
  const rows = await prisma.auditRecord.findMany({
    where: {
      action: 'force_release',
      result: 'released',
      ...(afterId === null ? { at: { gte: BigInt(Math.round(now - lookbackMs)) } } : { id: { gt: afterId } }),
    },
    orderBy: { id: 'asc' },
    take: 1_000,
    select: { id: true, at: true, source: true, lockName: true, holder: true, token: true },
  });
  return rows.map((r) => ({ ...r, at: Number(r.at) }));
}

/**
 * Marks the stored hold that a force-release ended as `force_released` (and its end
 * event), where it was recorded as released (the delete looked like any other) or unknown
 * (the collector was not watching). Returns false while no such hold is stored yet (the
 * caller tries again: the collector may still be buffering it). Idempotent.
 */
export async function markForceReleased(prisma: StoreClient, audit: ForceReleaseAudit): Promise<boolean> {
  const locks = await prisma.lock.findMany({ where: { source: audit.source, name: audit.lockName }, select: { id: true } });
  if (locks.length === 0) return false;
  const lockIds = locks.map((l) => l.id);
  const window = { gte: BigInt(Math.round(audit.at - MATCH_WINDOW_MS)), lte: BigInt(Math.round(audit.at + MATCH_WINDOW_MS)) };
  const identity = { ...(audit.holder !== null ? { holder: audit.holder } : {}), ...(audit.token !== null ? { token: audit.token } : {}) };
  const done = await prisma.hold.findFirst({ where: { lockId: { in: lockIds }, ...identity, endReason: 'force_released', endedAt: window }, select: { id: true } });
  if (done) return true;
  const hold = await prisma.hold.findFirst({
    where: { lockId: { in: lockIds }, ...identity, endReason: { in: ['released', 'unknown'] }, endedAt: window },
    orderBy: { endedAt: 'desc' },
  });
  if (!hold) return false;
  await prisma.hold.update({ where: { id: hold.id }, data: { endReason: 'force_released' } });
  await prisma.event.updateMany({
    where: { lockId: hold.lockId, type: { in: ['released', 'ended_unknown'] }, at: hold.endedAt, ...(hold.holder !== null ? { holder: hold.holder } : {}) },
    data: { type: 'force_released' },
  });
  return true;
}
