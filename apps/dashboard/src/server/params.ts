import { LOCK_SORTS, LOCK_STATES, MAX_HOLDS, MAX_LOCK_PAGE } from '@lockscope/store';
import { z } from 'zod';

/**
 * Query strings as plain objects. A repeated parameter is an error rather than
 * "last one wins", so `?state=held&state=free` does not quietly mean one of them.
 */
export function searchParamsOf(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new URL(request.url).searchParams) {
    if (key in out) throw new z.ZodError([{ code: 'custom', path: [key], message: 'given more than once', input: value }]);
    out[key] = value;
  }
  return out;
}

const epochMs = z.coerce
  .number({ error: 'must be epoch milliseconds' })
  .int('must be whole milliseconds')
  .min(0, 'must be epoch milliseconds')
  .max(8.64e15, 'is out of range');

const text = (max: number) => z.string().max(max, `at most ${max} characters`);

export const lockIdParam = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a lock id');

export const listLocksQuery = z.strictObject({
  source: text(200).optional(),
  name: text(500).optional(),
  state: z.enum(LOCK_STATES).optional(),
  sort: z.enum(Object.keys(LOCK_SORTS) as [keyof typeof LOCK_SORTS, ...(keyof typeof LOCK_SORTS)[]]).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  cursor: text(2000).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LOCK_PAGE).optional(),
});

const rangeQuery = {
  from: epochMs.optional(),
  to: epochMs.optional(),
};

export const metricsQuery = z.strictObject({
  ...rangeQuery,
  step: z.coerce.number().int('must be whole milliseconds').positive().optional(),
});

export const holdsQuery = z.strictObject({
  ...rangeQuery,
  limit: z.coerce.number().int().min(1).max(MAX_HOLDS).optional(),
});

export const emptyQuery = z.strictObject({});

/** Default range: the last hour up to now. */
export function resolveRange(q: { from?: number | undefined; to?: number | undefined }, now: number): { from: number; to: number } {
  const to = q.to ?? now;
  const from = q.from ?? to - 60 * 60_000;
  return { from, to };
}
