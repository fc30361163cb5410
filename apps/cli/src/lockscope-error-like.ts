import type { LockscopeError, LockscopeErrorCode } from '@lockscope/core';

/**
 * isLockscopeError without instanceof: the backend bundles (dist/backend-*.js) carry their own copy
 * of core (see load-backends.ts), so its errors have a different class object.
 */
export function isLockscopeErrorLike(error: unknown, code?: LockscopeErrorCode): error is LockscopeError {
  if (!(error instanceof Error) || error.name !== 'LockscopeError') return false;
  const own = (error as { code?: unknown }).code;
  return typeof own === 'string' && (code === undefined || own === code);
}
