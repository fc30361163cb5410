import type { LockscopeErrorCode } from '@lockscope/core';
import { z } from 'zod';

const STATUS: Partial<Record<LockscopeErrorCode, number>> = {
  BAD_REQUEST: 400,
  LOCK_NOT_FOUND: 404,
  NOT_FOUND: 404,
  STORE_UNAVAILABLE: 503,
  SOURCE_UNREACHABLE: 502,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  READ_ONLY: 403,
  HOLDER_CHANGED: 409,
  LOCK_FREE: 409,
};

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorResponse(status: number, code: string, message: string): Response {
  const body: ErrorBody = { error: { code, message } };
  return Response.json(body, { status, headers: { 'Cache-Control': 'no-store' } });
}

/**
 * LockscopeError by shape, not instanceof: the Next bundle can hold more than one
 * copy of @lockscope/core (one per server chunk), and each has its own class.
 */
export function lockscopeErrorOf(error: unknown): { code: LockscopeErrorCode; message: string } | null {
  if (!(error instanceof Error) || error.name !== 'LockscopeError') return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { code: code as LockscopeErrorCode, message: error.message } : null;
}

/** Maps any failure to `{ error: { code, message } }` with a fitting status. */
export function toErrorResponse(error: unknown): Response {
  if (error instanceof z.ZodError) {
    const message = error.issues
      .slice(0, 5)
      .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
      .join('; ');
    return errorResponse(400, 'BAD_REQUEST', message);
  }
  const known = lockscopeErrorOf(error);
  if (known) return errorResponse(STATUS[known.code] ?? 500, known.code, known.message);
  // Unexpected: the details go to the server log, not to the browser.
  console.error('lockscope dashboard: unexpected API error', error);
  return errorResponse(500, 'INTERNAL', 'internal error; see the dashboard server log');
}

/**
 * The one wrapper every API route goes through: runs the handler, maps errors,
 * adds Server-Timing so slow queries show in the browser's network panel.
 */
export function apiRoute<A extends unknown[]>(name: string, handler: (...args: A) => Promise<unknown>): (...args: A) => Promise<Response> {
  return async (...args: A) => {
    const started = performance.now();
    let response: Response;
    try {
      response = Response.json(await handler(...args), { headers: { 'Cache-Control': 'no-store' } });
    } catch (error) {
      response = toErrorResponse(error);
    }
    response.headers.set('Server-Timing', `${name};dur=${(performance.now() - started).toFixed(1)}`);
    return response;
  };
}
