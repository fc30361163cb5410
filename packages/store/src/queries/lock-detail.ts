import { LockscopeError } from '@lockscope/core';
import { toLockSummary, type LockSummary } from './lock-view.js';
import { ms, readStore, type QueryDb } from './query-db.js';

export interface LiveWaiter {
  holder: string;
  /** Wall ms the contender appeared; null when unknown (seen only on resync). */
  since: number | null;
  waitedMs: number | null;
  token: string | null;
}

export interface OpenAlert {
  id: string;
  rule: string;
  startedAt: number;
  message: string;
  value: number | null;
  threshold: number | null;
}

export interface LockDetail extends LockSummary {
  /** Live waiter queue in order; null when the dialect cannot show waiters. */
  waiterQueue: LiveWaiter[] | null;
  openAlerts: OpenAlert[];
}

export interface LockDetailOptions {
  db: QueryDb;
  id: string;
  now?: number;
}

export async function getLockDetail({ db, id, now = Date.now() }: LockDetailOptions): Promise<LockDetail> {
  const [row, alerts] = await readStore('lock detail', () =>
    Promise.all([
      db.lock.findUnique({ where: { id } }),
      db.alert.findMany({ where: { lockId: id, state: 'firing' }, orderBy: { startedAt: 'desc' }, take: 50 }),
    ]),
  );
  if (!row) throw new LockscopeError('LOCK_NOT_FOUND', `no lock with id "${id}" in the store`, { details: { id } });
  const summary = toLockSummary(row, now);
  return {
    ...summary,
    waiterQueue: summary.waitersObservable ? parseWaiterQueue(row.waiterQueue, now) : null,
    openAlerts: alerts.map((a) => ({
      id: a.id.toString(),
      rule: a.rule,
      startedAt: ms(a.startedAt),
      message: a.message,
      value: a.value,
      threshold: a.threshold,
    })),
  };
}

/** The collector writes the queue as JSON; a damaged value shows as an empty queue rather than failing the page. */
function parseWaiterQueue(text: string | null, now: number): LiveWaiter[] {
  if (!text) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((w: unknown): LiveWaiter[] => {
    if (!w || typeof w !== 'object') return [];
    const { holder, since, token } = w as Record<string, unknown>;
    const sinceMs = typeof since === 'number' && Number.isFinite(since) ? since : null;
    return [
      {
        holder: typeof holder === 'string' ? holder : String(holder ?? ''),
        since: sinceMs,
        waitedMs: sinceMs === null ? null : Math.max(0, now - sinceMs),
        token: typeof token === 'string' ? token : token === null || token === undefined ? null : String(token),
      },
    ];
  });
}
