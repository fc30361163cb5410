import { ALERT_RULES, ROLES } from '@lockscope/core';
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

export const MAX_ALERTS = 1_000;
/** The store's own bound on a silence (alerts-repo checks it too). */
export const MAX_SILENCE_MS = 30 * 24 * 3_600_000;

export const listAlertsQuery = z.strictObject({
  state: z.enum(['firing', 'resolved']).optional(),
  rule: z.enum(ALERT_RULES, { error: `must be one of ${ALERT_RULES.join(', ')}` }).optional(),
  source: text(200).optional(),
  lockId: lockIdParam.optional(),
  since: epochMs.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_ALERTS).optional(),
});

export const alertIdParam = z
  .string()
  .regex(/^[1-9][0-9]{0,18}$/, 'is not an alert id (a positive whole number)');

const silenceMs = z
  .number({ error: 'must be a number of milliseconds' })
  .int('must be whole milliseconds')
  .positive('must be more than 0')
  .max(MAX_SILENCE_MS, 'must be at most 30 days');

/**
 * The acknowledger is whoever the server authenticated; a `by` (the old field) is
 * refused rather than ignored, so a client relying on it learns that it has no effect.
 */
export const ackBody = z.strictObject({
  by: z.never({ error: 'not accepted: the acknowledger is the signed-in user or the API token\'s name' }).optional(),
  silenceForMs: silenceMs.optional(),
});

export const silenceBody = z.strictObject({ forMs: silenceMs });

const MAX_BODY_CHARS = 4_096;

/**
 * A JSON request body. Content-Type must be application/json: a cross-site
 * HTML form can only send form or text bodies, and a cross-site fetch with JSON
 * needs a CORS preflight this server never grants, so the actions cannot be
 * triggered from another site.
 */
export async function jsonBodyOf(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new z.ZodError([{ code: 'custom', path: [], message: 'send a JSON body with Content-Type: application/json', input: type }]);
  }
  // Refuse a declared oversized body before reading it.
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_CHARS * 4) throw new z.ZodError([{ code: 'custom', path: [], message: `body larger than ${MAX_BODY_CHARS} characters`, input: declared }]);
  const text = await request.text();
  if (text.length > MAX_BODY_CHARS) throw new z.ZodError([{ code: 'custom', path: [], message: `body larger than ${MAX_BODY_CHARS} characters`, input: text.length }]);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new z.ZodError([{ code: 'custom', path: [], message: 'body is not valid JSON', input: text.slice(0, 40) }]);
  }
}

export const tokenIdParam = z.string().regex(/^[1-9][0-9]{0,18}$/, 'is not a token id (a positive whole number)');

export const createTokenBody = (maxDays: number) =>
  z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, '1 to 64 letters, digits, dots, dashes, underscores or @'),
    role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
    expiresInDays: z.number().int('whole days').min(1).max(maxDays, `at most ${maxDays} days (dashboard.auth.tokenMaxDays)`),
  });

export const hazardsQuery = z.strictObject({
  source: text(200).optional(),
  since: epochMs.optional(),
});

export const auditQuery = z.strictObject({
  actor: text(200).optional(),
  action: text(100).optional(),
  source: text(200).optional(),
  lockName: text(500).optional(),
  since: epochMs.optional(),
  limit: z.coerce.number().int().min(1).max(1_000).optional(),
});
