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
  | 'INTERNAL';

export class LockscopeError extends Error {
  readonly code: LockscopeErrorCode;
  /** Extra facts for JSON output (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: LockscopeErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'LockscopeError';
    this.code = code;
    this.details = options.details;
  }
}

export function isLockscopeError(error: unknown, code?: LockscopeErrorCode): error is LockscopeError {
  return error instanceof LockscopeError && (code === undefined || error.code === code);
}
