import { join } from '@prisma/client/runtime/client';
import { bucketOf, DIALECTS } from '@lockscope/core';
import type { Prisma } from '../generated/postgresql/client/client.js';
import { dialectShowsWaiters, toLockSummary, type LockSummary } from './lock-view.js';
import { badRequest, readStore, type QueryDb } from './query-db.js';
import { MergedSketch } from './sketch-merge.js';

export const LOCK_STATES = ['held', 'free', 'near-expiry', 'contended'] as const;
export type LockState = (typeof LOCK_STATES)[number];

/** Sort keys and the column behind each (nullable columns sort last either way). */
export const LOCK_SORTS = {
  name: 'name',
  source: 'source',
  dialect: 'dialect',
  /** Longest held first with `desc`: the acquisition time, reversed. */
  heldFor: 'acquiredAt',
  ttl: 'ttlMs',
  /** Soonest lease expiry first with `asc`. */
  expires: 'expiresAt',
  waiters: 'waiters',
  lastChange: 'lastChangeAt',
} as const;
export type LockSort = keyof typeof LOCK_SORTS;
type SortColumn = (typeof LOCK_SORTS)[LockSort];
const NULLABLE: ReadonlySet<SortColumn> = new Set(['acquiredAt', 'ttlMs', 'expiresAt']);
const BIGINT: ReadonlySet<SortColumn> = new Set(['acquiredAt', 'expiresAt', 'lastChangeAt']);
const NUMBER: ReadonlySet<SortColumn> = new Set(['ttlMs', 'waiters']);

export interface ListLocksOptions {
  db: QueryDb;
  now?: number;
  source?: string | undefined;
  /** Substring of the lock name, matched literally and case-sensitively on both databases. */
  name?: string | undefined;
  state?: LockState | undefined;
  sort?: LockSort | undefined;
  order?: 'asc' | 'desc' | undefined;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string | undefined;
  limit?: number | undefined;
  /** Window for each lock's P95 acquisition column. */
  p95WindowMs?: number | undefined;
}

export interface LockListItem extends LockSummary {
  /** P95 acquisition latency over `p95WindowMs`; null when not observed or not observable. */
  p95AcquisitionMs: number | null;
  openAlerts: number;
}

export interface LockList {
  items: LockListItem[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
  /** Locks matching the filters (all pages). */
  total: number;
  p95WindowMs: number;
}

interface Cursor {
  /** The sort column's value of the last row (BigInt columns as decimal text). */
  v: string | number | null;
  id: string;
}

export const MAX_LOCK_PAGE = 500;

export async function listLocks(options: ListLocksOptions): Promise<LockList> {
  const { db, now = Date.now(), sort = 'name', order = 'asc', limit = 50, p95WindowMs = 60 * 60_000 } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOCK_PAGE) throw badRequest(`limit must be an integer from 1 to ${MAX_LOCK_PAGE}`);
  if (!(sort in LOCK_SORTS)) throw badRequest(`sort must be one of ${Object.keys(LOCK_SORTS).join(', ')}`);
  const column = LOCK_SORTS[sort];
  const cursor = options.cursor ? decodeCursor(options.cursor) : null;

  const filters: Prisma.LockWhereInput[] = [];
  if (options.source) filters.push({ source: options.source });
  if (options.state) filters.push(stateFilter(options.state, now));
  const after = cursor ? afterCursor(column, order, cursor) : null;

  return readStore('lock list', async () => {
    if (options.name) filters.push(await nameFilter(db, options.name));
    const where: Prisma.LockWhereInput = { AND: filters };
    const pageWhere: Prisma.LockWhereInput = after ? { AND: [...filters, after] } : where;
    const orderBy: Prisma.LockOrderByWithRelationInput[] = [
      NULLABLE.has(column) ? { [column]: { sort: order, nulls: 'last' } } : { [column]: order },
      { id: 'asc' },
    ];
    const [rows, total] = await Promise.all([
      db.lock.findMany({ where: pageWhere, orderBy, take: limit + 1 }),
      db.lock.count({ where }),
    ]);
    const page = rows.slice(0, limit);
    const ids = page.map((r) => r.id);
    const observableIds = page.filter((r) => dialectShowsWaiters(r.dialect)).map((r) => r.id);
    const [rollups, alerts] = await Promise.all([
      observableIds.length === 0
        ? Promise.resolve([])
        : db.$queryRaw<{ lockId: string; acqLatencySketch: Uint8Array }[]>`SELECT "lockId", "acqLatencySketch" FROM "Rollup" WHERE "lockId" IN (${join(observableIds)}) AND "bucket" >= ${BigInt(bucketOf(now - p95WindowMs))} AND "acqLatencySketch" IS NOT NULL`,
      ids.length === 0
        ? Promise.resolve([])
        : db.alert.groupBy({ by: ['lockId'], where: { lockId: { in: ids }, state: 'firing' }, _count: { _all: true } }),
    ]);
    const sketches = new Map<string, MergedSketch>();
    for (const r of rollups) {
      let s = sketches.get(r.lockId);
      if (!s) sketches.set(r.lockId, (s = new MergedSketch()));
      s.add(r.acqLatencySketch);
    }
    const alertCounts = new Map(alerts.map((a) => [a.lockId, a._count._all]));
    const items = page.map((row) => ({
      ...toLockSummary(row, now),
      p95AcquisitionMs: sketches.get(row.id)?.quantile(0.95) ?? null,
      openAlerts: alertCounts.get(row.id) ?? 0,
    }));
    const last = page.at(-1);
    const nextCursor =
      rows.length > limit && last ? encodeCursor({ v: cursorValue(last[column]), id: last.id }) : null;
    return { items, nextCursor, total, p95WindowMs };
  });
}

/** Above this many matches the id list would not fit one statement's parameters (SQLite: 32766). */
const MAX_NAME_MATCHES = 20_000;

/**
 * Prisma's `contains` is LIKE: `%` and `_` in the text act as wildcards and
 * case sensitivity differs between SQLite and PostgreSQL. `replace()` exists in
 * both and compares literally, so the substring means the same everywhere.
 */
async function nameFilter(db: QueryDb, needle: string): Promise<Prisma.LockWhereInput> {
  const rows = await db.$queryRaw<{ id: string }[]>`SELECT "id" FROM "Lock" WHERE "name" <> replace("name", ${needle}, '') LIMIT ${MAX_NAME_MATCHES + 1}`;
  // A filter that matches nearly everything is not worth an exact literal match; LIKE is close enough there.
  if (rows.length > MAX_NAME_MATCHES) return { name: { contains: needle } };
  return { id: { in: rows.map((r) => r.id) } };
}

function stateFilter(state: LockState, now: number): Prisma.LockWhereInput {
  switch (state) {
    case 'held':
      return { held: true };
    case 'free':
      return { held: false };
    case 'near-expiry':
      return { held: true, nearExpiryAt: { lte: BigInt(now) } };
    case 'contended':
      return { waiters: { gt: 0 }, dialect: { in: DIALECTS.filter(dialectShowsWaiters) } };
  }
}

/**
 * Keyset condition for "rows after the cursor" in (column order, nulls last, id asc).
 * Written out by hand because Prisma's own cursor misorders rows around nulls.
 */
function afterCursor(column: SortColumn, order: 'asc' | 'desc', cursor: Cursor): Prisma.LockWhereInput {
  const fits =
    cursor.v === null ||
    (BIGINT.has(column) ? typeof cursor.v === 'string' && /^-?\d{1,20}$/.test(cursor.v) : NUMBER.has(column) ? typeof cursor.v === 'number' : typeof cursor.v === 'string');
  if (!fits) throw badRequest('cursor does not match the sort; start again without it');
  const value = cursor.v === null ? null : BIGINT.has(column) ? BigInt(cursor.v) : cursor.v;
  if (value === null) {
    if (!NULLABLE.has(column)) throw badRequest('cursor does not match the sort');
    return { [column]: null, id: { gt: cursor.id } };
  }
  const beyond = order === 'asc' ? 'gt' : 'lt';
  const alternatives: Prisma.LockWhereInput[] = [{ [column]: { [beyond]: value } }, { [column]: value, id: { gt: cursor.id } }];
  if (NULLABLE.has(column)) alternatives.push({ [column]: null });
  return { OR: alternatives };
}

function cursorValue(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' || typeof v === 'string') return v;
  return String(v);
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object' && 'id' in parsed && 'v' in parsed) {
      const { id, v } = parsed as { id: unknown; v: unknown };
      if (typeof id === 'string' && (v === null || typeof v === 'string' || typeof v === 'number')) {
        return { id, v };
      }
    }
  } catch {
    // fall through to the one error below
  }
  throw badRequest('cursor is not valid; start again without it');
}
