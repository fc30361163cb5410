/** Every failure Lockscope reports on purpose carries one of these codes. */
export type LockscopeErrorCode =
  | 'BAD_CONFIG'
  | 'BAD_REQUEST'
  | 'LOCK_NOT_FOUND'
  | 'LOCK_FREE'
  | 'HOLDER_CHANGED'
  | 'SOURCE_UNREACHABLE'
  | 'SOURCE_MISCONFIGURED'
  | 'STORE_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'CONFIRMATION_REQUIRED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'READ_ONLY'
  | 'INTERNAL';

/** Marks LockscopeErrors across bundle copies of core (Next.js, lazily loaded CLI bundles). */
const BRAND = Symbol.for('lockscope.error');

export class LockscopeError extends Error {
  readonly code: LockscopeErrorCode;
  readonly [BRAND] = true;
  /** Extra facts for JSON output (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: LockscopeErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'LockscopeError';
    this.code = code;
    this.details = options.details;
  }
}

/** True for a LockscopeError from any copy of this module (instanceof alone fails across bundles). */
export function isLockscopeError(error: unknown, code?: LockscopeErrorCode): error is LockscopeError {
  if (typeof error !== 'object' || error === null || (error as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (error as LockscopeError).code === code;
}
