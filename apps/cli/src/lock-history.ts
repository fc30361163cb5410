import { displayKey, fromHex, hexName, keysForName, LockscopeError, toHex } from '@lockscope/core';
import type { Store, StoredAudit } from '@lockscope/store';
import { isLockscopeErrorLike } from './lockscope-error-like.js';
import type { StoredLockFacts } from './lock-row.js';

export interface HistoryHold {
  source: string;
  name: string;
  holder: string | null;
  token: string | null;
  acquiredAt: number;
  endedAt: number;
  heldMs: number;
  ttlMs: number | null;
  waitMs: number | null;
  renewals: number;
  maxLeaseUsed: number | null;
  nearExpiry: boolean;
  endReason: string;
  approximate: boolean;
}

export interface StoredLockState {
  source: string;
  name: string;
  held: boolean;
  holder: string | null;
  token: string | null;
  acquiredAt: number | null;
}

export interface LockHistory {
  locks: StoredLockState[];
  /** Newest first. */
  holds: HistoryHold[];
  /** Force-releases recorded by lockctl, newest first. */
  audits: StoredAudit[];
}

/**
 * Past holds of a lock by display name (optionally on one source). The store
 * has no name-keyed history read, so this reads the Lock and Hold models
 * directly through the store's Prisma client.
 */
export async function readLockHistory(store: Store, { name, source, limit }: { name: string; source?: string | undefined; limit: number }): Promise<LockHistory> {
  try {
    // A name with \xNN escapes or a hex: form may stand for several keys: match the stored raw
    // key, and ask which when one source recorded more than one of them.
    const keys = keysForName(name);
    const wanted = new Set(keys.map(toHex));
    const names = [...new Set(keys.map(displayKey))];
    const candidates = await store.prisma.lock.findMany({ where: { name: names.length === 1 ? names[0]! : { in: names }, ...(source ? { source } : {}) } });
    const locks = candidates.filter((l) => wanted.has(l.rawKey));
    const perSource = new Map<string, typeof locks>();
    for (const l of locks) perSource.set(l.source, [...(perSource.get(l.source) ?? []), l]);
    for (const [where, same] of perSource) {
      if (same.length > 1) {
        throw new LockscopeError(
          'BAD_REQUEST',
          `${name} on ${where} names ${same.length} different keys the store recorded; name one by its exact form: ${same.map((l) => hexName(fromHex(l.rawKey))).join(', ')}`,
          { details: { source: where, name, candidates: same.map((l) => hexName(fromHex(l.rawKey))) } },
        );
      }
    }
    const byId = new Map(locks.map((l) => [l.id, l]));
    const holds =
      locks.length === 0
        ? []
        : await store.prisma.hold.findMany({ where: { lockId: { in: [...byId.keys()] } }, orderBy: { endedAt: 'desc' }, take: limit });
    // Audit records carry the display name; a lock picked by its hex: form is found under that.
    const audits = await store.listAudit({ lockName: locks[0]?.name ?? name, ...(source ? { source } : {}), limit });
    return {
      locks: locks.map((l) => ({
        source: l.source,
        name: l.name,
        held: l.held,
        holder: l.holder,
        token: l.token,
        acquiredAt: l.acquiredAt === null ? null : Number(l.acquiredAt),
      })),
      holds: holds.map((h) => {
        const lock = byId.get(h.lockId)!;
        return {
          source: lock.source,
          name: lock.name,
          holder: h.holder,
          token: h.token,
          acquiredAt: Number(h.acquiredAt),
          endedAt: Number(h.endedAt),
          heldMs: h.heldMs,
          ttlMs: h.ttlMs,
          waitMs: h.waitMs,
          renewals: h.renewals,
          maxLeaseUsed: h.maxLeaseUsed,
          nearExpiry: h.nearExpiry,
          endReason: h.endReason,
          approximate: h.approximate,
        };
      }),
      audits,
    };
  } catch (error) {
    if (isLockscopeErrorLike(error)) throw error;
    throw storeReadError(error);
  }
}

/** The collector's live rows for a display name, with what `show` merges into the live read. */
export async function readStoredLockFacts(store: Store, { name, source }: { name: string; source?: string | undefined }): Promise<StoredLockFacts[]> {
  try {
    const rows = await store.prisma.lock.findMany({ where: { name, ...(source ? { source } : {}) } });
    const ms = (v: bigint | null) => (v === null ? null : Number(v));
    return rows.map((l) => ({
      source: l.source,
      name: l.name,
      rawKey: l.rawKey,
      dialect: l.dialect,
      held: l.held,
      holdId: l.holdId,
      holder: l.holder,
      token: l.token,
      acquiredAt: ms(l.acquiredAt),
      lastRenewedAt: ms(l.lastRenewedAt),
      ttlMs: l.ttlMs,
      waiterQueue: l.waiterQueue,
      lastChangeAt: Number(l.lastChangeAt),
    }));
  } catch (error) {
    if (isLockscopeErrorLike(error)) throw error;
    throw storeReadError(error);
  }
}

/** Prisma messages start with a blank line and the call site; the last line says what went wrong. */
export function storeReadError(error: unknown): LockscopeError {
  const text = error instanceof Error ? error.message : String(error);
  const reason = text.split('\n').map((l) => l.trim()).filter((l) => l !== '').pop() ?? 'unknown error';
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'P2021' || /does not exist|no such table/i.test(reason)) {
    return new LockscopeError('STORE_UNAVAILABLE', 'The store has no Lockscope tables yet; run `npm run db:migrate` (or start the collector) against store.url.', { cause: error });
  }
  return new LockscopeError('STORE_UNAVAILABLE', `The store could not be read (${reason.replace(/\.$/, '')}); check store.url in the config.`, { cause: error });
}
