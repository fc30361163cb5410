import { LockscopeError } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from './exit-codes.js';

describe('exitCodeFor', () => {
  it('maps each documented failure to its exit code', () => {
    expect(exitCodeFor(new LockscopeError('BAD_CONFIG', 'x'))).toBe(2);
    expect(exitCodeFor(new LockscopeError('CONFIRMATION_REQUIRED', 'x'))).toBe(2);
    expect(exitCodeFor(new LockscopeError('LOCK_NOT_FOUND', 'x'))).toBe(3);
    expect(exitCodeFor(new LockscopeError('LOCK_FREE', 'x'))).toBe(3);
    expect(exitCodeFor(new LockscopeError('HOLDER_CHANGED', 'x'))).toBe(4);
    expect(exitCodeFor(new LockscopeError('SOURCE_UNREACHABLE', 'x'))).toBe(5);
  });

  it('treats oclif parse errors as usage errors and anything else as a failure', () => {
    expect(exitCodeFor(Object.assign(new Error('Unexpected argument'), { oclif: { exit: 2 } }))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new TypeError('boom'))).toBe(EXIT.FAILURE);
  });
});
