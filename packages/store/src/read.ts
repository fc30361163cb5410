import { LockscopeError } from '@lockscope/core';
import type { StoreClient } from './store-client.js';
import { storeUnavailable } from './store-error.js';
import { ms, optMs, optText, text, toBytes, toNumber, toOptNumber } from './sql-values.js';
import type { ParsedStoreUrl } from './url.js';
import type { AuditInput, ListAuditOptions, PurgeResult, StoredAudit, StoredLock, StoredRollup, StoredSource } from './types.js';

async function guarded<T>(parsed: ParsedStoreUrl, doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof LockscopeError) throw error;
    throw storeUnavailable(parsed, error, doing);
  }
}

type Row<T> = { [K in keyof T]: unknown };

export function sourceFromDb(r: Row<StoredSource>): StoredSource {
  return {
    name: r.name as string,
    kind: r.kind as string,
    connected: r.connected as boolean,
    lastError: r.lastError as string | null,
    lastEventAt: toOptNumber(r.lastEventAt),
    lastSeenAt: toOptNumber(r.lastSeenAt),
    ingestLagMs: r.ingestLagMs as number | null,
    resumeRevision: r.resumeRevision as string | null,
    lockCount: r.lockCount as number,
    updatedAt: toNumber(r.updatedAt),
  };
}

export function lockFromDb(r: Row<StoredLock>): StoredLock {
  return {
    id: r.id as string,
    source: r.source as string,
    name: r.name as string,
    rawKey: r.rawKey as string,
    dialect: r.dialect as string,
    held: r.held as boolean,
    holder: r.holder as string | null,
    token: r.token as string | null,
    acquiredAt: toOptNumber(r.acquiredAt),
    lastRenewedAt: toOptNumber(r.lastRenewedAt),
    ttlMs: r.ttlMs as number | null,
    expiresAt: toOptNumber(r.expiresAt),
    nearExpiryAt: toOptNumber(r.nearExpiryAt),
    waiters: r.waiters as number,
    waiterQueue: r.waiterQueue as string | null,
    holdId: r.holdId as string | null,
    trackerState: r.trackerState as string | null,
    firstSeenAt: toNumber(r.firstSeenAt),
    lastChangeAt: toNumber(r.lastChangeAt),
    acquisitions: r.acquisitions as number,
    expirations: r.expirations as number,
  };
}

export function rollupFromDb(r: Row<StoredRollup>): StoredRollup {
  return {
    lockId: r.lockId as string,
    bucket: toNumber(r.bucket),
    source: r.source as string,
    acquisitions: r.acquisitions as number,
    waitedAcquisitions: r.waitedAcquisitions as number,
    releases: r.releases as number,
    expirations: r.expirations as number,
    nearExpiries: r.nearExpiries as number,
    waitersMax: r.waitersMax as number,
    waitersSum: r.waitersSum as number,
    waitersSamples: r.waitersSamples as number,
    acqLatencySketch: toBytes(r.acqLatencySketch),
    holdTimeSketch: toBytes(r.holdTimeSketch),
  };
}

export function auditFromDb(r: Row<StoredAudit>): StoredAudit {
  return {
    id: toNumber(r.id),
    at: toNumber(r.at),
    actor: r.actor as string,
    host: r.host as string,
    action: r.action as string,
    source: r.source as string,
    lockName: r.lockName as string,
    holder: r.holder as string | null,
    token: r.token as string | null,
    reason: r.reason as string,
    result: r.result as string,
    detail: r.detail as string | null,
  };
}

/** The collector's resume point and health row for one source, or null if never seen. */
export function loadSourceState(prisma: StoreClient, parsed: ParsedStoreUrl, source: string): Promise<StoredSource | null> {
  return guarded(parsed, 'read from', async () => {
    const row = await prisma.source.findUnique({ where: { name: text(source) } });
    return row ? sourceFromDb(row) : null;
  });
}

/** Every live Lock row of a source, with trackerState, for the collector to resume from. */
export function loadLiveLocks(prisma: StoreClient, parsed: ParsedStoreUrl, source: string): Promise<StoredLock[]> {
  return guarded(parsed, 'read from', async () => {
    const rows = await prisma.lock.findMany({ where: { source: text(source) }, orderBy: { id: 'asc' } });
    return rows.map(lockFromDb);
  });
}

/**
 * All rollups of one bucket (epoch ms), e.g. the current one after a restart:
 * a minute bucket, or with `tier: 'hour'` an hour bucket of RollupHour.
 */
export function loadRollups(prisma: StoreClient, parsed: ParsedStoreUrl, bucket: number, tier: 'minute' | 'hour' = 'minute'): Promise<StoredRollup[]> {
  return guarded(parsed, 'read from', async () => {
    const where = { bucket: ms(bucket, 'bucket') };
    const rows =
      tier === 'hour'
        ? await prisma.rollupHour.findMany({ where, orderBy: { lockId: 'asc' } })
        : await prisma.rollup.findMany({ where, orderBy: { lockId: 'asc' } });
    return rows.map(rollupFromDb);
  });
}

export interface PurgeOptions {
  /** Rows deleted per statement (default 5000): each chunk is its own short transaction. */
  chunkSize?: number;
  /** Runs each chunk in the store's turn order (SQLite); set by Store.purgeBefore. */
  serial?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/**
 * Retention: deletes events with `at` < ms and holds with `endedAt` < ms, a
 * chunk at a time so the collector's flushes interleave instead of waiting
 * behind one long delete. Live Lock rows and rollups are kept.
 */
export function purgeBefore(prisma: StoreClient, parsed: ParsedStoreUrl, before: number, options: PurgeOptions = {}): Promise<PurgeResult> {
  const chunk = Math.max(1, Math.trunc(options.chunkSize ?? 5000));
  const cut = ms(before, 'purgeBefore');
  const serial = options.serial ?? (<T>(fn: () => Promise<T>) => fn());
  return guarded(parsed, 'purge', async () => {
    // Each chunk takes its own turn so collector flushes slot in between.
    let events = 0;
    for (;;) {
      const n = await serial(() => prisma.$executeRaw`DELETE FROM "Event" WHERE "id" IN (SELECT "id" FROM "Event" WHERE "at" < ${cut} LIMIT ${chunk})`);
      events += n;
      if (n < chunk) break;
    }
    let holds = 0;
    for (;;) {
      const n = await serial(() => prisma.$executeRaw`DELETE FROM "Hold" WHERE "id" IN (SELECT "id" FROM "Hold" WHERE "endedAt" < ${cut} LIMIT ${chunk})`);
      holds += n;
      if (n < chunk) break;
    }
    // Hazards that ended before the cut (open ones stay, however old).
    const hazards = await serial(() => prisma.$executeRaw`DELETE FROM "Hazard" WHERE "until" IS NOT NULL AND "until" < ${cut}`);
    return { events, holds, hazards };
  });
}

/** Records one lockctl action; returns the stored row. */
export function recordAudit(prisma: StoreClient, parsed: ParsedStoreUrl, record: AuditInput): Promise<StoredAudit> {
  return guarded(parsed, 'write to', async () => {
    const row = await prisma.auditRecord.create({
      data: {
        at: ms(record.at, 'AuditRecord.at'),
        actor: text(record.actor),
        host: text(record.host),
        action: text(record.action),
        source: text(record.source),
        lockName: text(record.lockName),
        holder: optText(record.holder),
        token: optText(record.token),
        reason: text(record.reason),
        result: text(record.result),
        detail: optText(record.detail),
      },
    });
    return auditFromDb(row);
  });
}

/** Audit records, newest first, optionally for one source / lock / since a time. */
export function listAudit(prisma: StoreClient, parsed: ParsedStoreUrl, options: ListAuditOptions = {}): Promise<StoredAudit[]> {
  const limit = Math.min(1000, Math.max(1, Math.trunc(options.limit ?? 100)));
  return guarded(parsed, 'read from', async () => {
    const rows = await prisma.auditRecord.findMany({
      where: {
        ...(options.source !== undefined ? { source: text(options.source) } : {}),
        ...(options.lockName !== undefined ? { lockName: text(options.lockName) } : {}),
        ...(options.since !== undefined ? { at: { gte: optMs(options.since, 'since') ?? 0n } } : {}),
      },
      orderBy: [{ at: 'desc' }, { id: 'desc' }],
      take: limit,
    });
    return rows.map(auditFromDb);
  });
}
