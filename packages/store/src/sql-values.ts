import { LockscopeError } from '@lockscope/core';

/**
 * PostgreSQL text cannot hold U+0000; SQLite can. Both stores write it as the
 * four characters \x00 (the escape core's displayKey uses for odd bytes), so
 * the two providers store the same thing. Identity lives in rawKey (hex).
 */
export function text(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\\x00') : value;
}

export function optText(value: string | null | undefined): string | null {
  return value === null || value === undefined ? null : text(value);
}

/** Epoch ms (JS number) -> BigInt column value. */
export function ms(value: number, column: string): bigint {
  if (!Number.isFinite(value)) throw new LockscopeError('BAD_REQUEST', `${column} must be a finite epoch-ms number, got ${String(value)}`);
  return BigInt(Math.trunc(value));
}

export function optMs(value: number | null | undefined, column: string): bigint | null {
  return value === null || value === undefined ? null : ms(value, column);
}

/** INTEGER columns are 32-bit on PostgreSQL; refuse early rather than fail a whole batch there. */
export function int(value: number, column: string): number {
  if (!Number.isInteger(value) || value < -2147483648 || value > 2147483647) {
    throw new LockscopeError('BAD_REQUEST', `${column} must be a 32-bit integer, got ${String(value)}`);
  }
  return value;
}

export function optInt(value: number | null | undefined, column: string): number | null {
  return value === null || value === undefined ? null : int(value, column);
}

export function float(value: number, column: string): number {
  if (!Number.isFinite(value)) throw new LockscopeError('BAD_REQUEST', `${column} must be a finite number, got ${String(value)}`);
  return value;
}

export function optFloat(value: number | null | undefined, column: string): number | null {
  return value === null || value === undefined ? null : float(value, column);
}

export function optBytes(value: Uint8Array | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** BigInt / number / numeric string from a driver -> JS number. */
export function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value as bigint | string);
}

export function toOptNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : toNumber(value);
}

export function toBytes(value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new LockscopeError('INTERNAL', `expected bytes from the store, got ${typeof value}`);
}
