import picomatch from 'picomatch';
import type { LockRow } from './lock-row.js';

export const LOCK_SORTS = ['name', 'source', 'remaining', 'lease-used', 'waiters', 'held'] as const;
export type LockSort = (typeof LOCK_SORTS)[number];

export interface LockFilter {
  sources?: string[] | undefined;
  /** Glob over the lock name, or over `source:name` when it contains a colon. */
  match?: string | undefined;
  nearExpiry?: boolean | undefined;
  contended?: boolean | undefined;
}

export function filterLocks(rows: LockRow[], filter: LockFilter): LockRow[] {
  // `dot: true`: lock names often start with or contain dots; `*` must still match them.
  const isMatch = filter.match ? picomatch(filter.match, { dot: true }) : null;
  const sources = filter.sources && filter.sources.length > 0 ? new Set(filter.sources) : null;
  return rows.filter((row) => {
    if (sources && !sources.has(row.source)) return false;
    if (isMatch && !isMatch(row.name) && !isMatch(`${row.source}:${row.name}`)) return false;
    if (filter.nearExpiry && row.nearExpiry !== true) return false;
    if (filter.contended && !(row.waiters !== null && row.waiters > 0)) return false;
    return true;
  });
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Unknown values (null) sort last whatever the direction. */
function nullsLast(a: number | null, b: number | null, descending: boolean): number {
  if (a === null && b === null) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return descending ? b - a : a - b;
}

/** Sorts so the rows that need attention first come first: least remaining, most used, most waiters, longest held. */
export function sortLocks(rows: LockRow[], sort: LockSort): LockRow[] {
  const byIdentity = (a: LockRow, b: LockRow) => byText(a.source, b.source) || byText(a.name, b.name);
  const compare: Record<LockSort, (a: LockRow, b: LockRow) => number> = {
    name: (a, b) => byText(a.name, b.name) || byText(a.source, b.source),
    source: byIdentity,
    remaining: (a, b) => nullsLast(a.remainingMs, b.remainingMs, false) || byIdentity(a, b),
    'lease-used': (a, b) => nullsLast(a.leaseUsedRatio, b.leaseUsedRatio, true) || byIdentity(a, b),
    waiters: (a, b) => nullsLast(a.waiters, b.waiters, true) || byIdentity(a, b),
    held: (a, b) => nullsLast(a.heldMs, b.heldMs, true) || byIdentity(a, b),
  };
  return [...rows].sort(compare[sort]);
}
