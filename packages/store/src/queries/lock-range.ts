import { badRequest } from './query-db.js';

export interface TimeRange {
  from: number;
  to: number;
}

/** Seven days of minute rollups is the longest range a chart asks for; a little slack for clock skew. */
export const MAX_RANGE_MS = 31 * 24 * 60 * 60_000;

export function checkRange({ from, to }: TimeRange): void {
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw badRequest('from and to must be epoch milliseconds');
  if (from >= to) throw badRequest('from must be before to');
  if (to - from > MAX_RANGE_MS) throw badRequest('the range may span at most 31 days');
}
