import type { Dialect, Hazard, HazardKind, LockHistory, Severity } from '@lockscope/core';
import type { PrismaClient } from '../generated/postgresql/client/client.js';
import { ms, readStore } from './query-db.js';

type HazardDb = Pick<PrismaClient, 'hazard' | 'lock' | 'hold'>;

export interface HazardQuery {
  db: HazardDb;
  /** Hazards that lasted into this window (wall ms from). */
  since: number;
  source?: string | undefined;
  /** Only these lock ids (lockctl doctor --match resolves names to ids). */
  lockIds?: string[] | undefined;
}

function parseList(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Stored hazards (found live by the collector) still open, or ended within the window. */
export function listHazards(q: HazardQuery): Promise<Hazard[]> {
  return readStore('hazards', async () => {
    const rows = await q.db.hazard.findMany({
      where: {
        OR: [{ until: null }, { until: { gte: BigInt(Math.round(q.since)) } }],
        ...(q.source !== undefined ? { source: q.source } : {}),
        ...(q.lockIds !== undefined ? { lockId: { in: q.lockIds } } : {}),
      },
      orderBy: [{ since: 'desc' }, { id: 'asc' }],
      take: 5_000,
    });
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind as HazardKind,
      severity: r.severity as Severity,
      source: r.source,
      lockId: r.lockId,
      lockName: r.lockName,
      since: ms(r.since),
      until: ms(r.until),
      holders: parseList(r.holders),
      tokens: parseList(r.tokens),
      detail: r.detail,
      evidence: parseObject(r.evidence),
    }));
  });
}

/** Most ended holds read per lock for the hygiene rules (the newest). */
export const HISTORY_HOLDS_PER_LOCK = 2_000;

/** Each lock's recent holds and current hold, for hygieneHazards. */
export function lockHistories(q: HazardQuery): Promise<LockHistory[]> {
  return readStore('lock history', async () => {
    const locks = await q.db.lock.findMany({
      where: { ...(q.source !== undefined ? { source: q.source } : {}), ...(q.lockIds !== undefined ? { id: { in: q.lockIds } } : {}) },
      select: { id: true, source: true, name: true, dialect: true, held: true, holder: true, token: true, acquiredAt: true, ttlMs: true },
      take: 10_000,
    });
    const out: LockHistory[] = [];
    for (const lock of locks) {
      const holds = await q.db.hold.findMany({
        where: { lockId: lock.id, endedAt: { gte: BigInt(Math.round(q.since)) } },
        orderBy: { endedAt: 'desc' },
        take: HISTORY_HOLDS_PER_LOCK,
        select: { heldMs: true, ttlMs: true, renewals: true, waitMs: true, token: true, endedAt: true },
      });
      out.push({
        ref: { lockId: lock.id, source: lock.source, name: lock.name },
        dialect: lock.dialect as Dialect,
        holds: holds.map((h) => ({ heldMs: h.heldMs, ttlMs: h.ttlMs, renewals: h.renewals, waitMs: h.waitMs, token: h.token, endedAt: ms(h.endedAt) })),
        current: lock.held && lock.acquiredAt !== null ? { holder: lock.holder, token: lock.token, acquiredAt: ms(lock.acquiredAt), ttlMs: lock.ttlMs } : null,
      });
    }
    return out;
  });
}
