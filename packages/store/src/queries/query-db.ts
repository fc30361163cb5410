import { LockscopeError } from '@lockscope/core';
import { isNotMigrated } from '../store-error.js';
import type { PrismaClient } from '../generated/postgresql/client/client.js';

/**
 * The part of a Prisma client the read services use. Both generated clients
 * (SQLite and PostgreSQL) fit it; only `$transaction` differs between them,
 * and reads do not need it.
 */
export type QueryDb = Pick<PrismaClient, 'lock' | 'hold' | 'rollup' | 'source' | 'alert' | '$queryRaw'>;

/** Epoch ms from a BigInt column. */
export function ms(value: bigint): number;
export function ms(value: bigint | null): number | null;
export function ms(value: bigint | null): number | null {
  return value === null ? null : Number(value);
}

/**
 * Runs the database part of a read service. Anything the database throws
 * (connection refused, missing tables, a locked file) becomes one
 * STORE_UNAVAILABLE error whose message carries the driver's reason but never
 * the connection URL, so the API can answer 503 with a sentence.
 */
export async function readStore<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    // By name, not instanceof: a bundler may hold two copies of @lockscope/core.
    if (error instanceof Error && error.name === 'LockscopeError') throw error;
    const reason = describeDbError(error);
    // An empty database (collector never ran, or migrations not applied) is the common first-run case.
    const hint = isNotMigrated(error) || isNotMigrated(reason) ? ' The store has no Lockscope tables yet: run `npm run db:migrate` (or start the collector).' : '';
    throw new LockscopeError('STORE_UNAVAILABLE', `the store could not be read (${what}): ${reason}.${hint}`, { cause: error });
  }
}

function describeDbError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 4; depth++) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      const line = current.message.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? current.name;
      parts.push(typeof code === 'string' && !line.includes(code) ? `${code}: ${line}` : line);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  // Driver messages can echo a connection string; keep user:password out of responses.
  return redactUrls([...new Set(parts)].join(' <- ')).slice(0, 500);
}

export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
}

export function badRequest(message: string): LockscopeError {
  return new LockscopeError('BAD_REQUEST', message);
}
