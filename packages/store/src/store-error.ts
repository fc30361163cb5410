import { LockscopeError } from '@lockscope/core';
import type { ParsedStoreUrl } from './url.js';

function passwordOf(parsed: ParsedStoreUrl): string | undefined {
  if (parsed.provider !== 'postgresql') return undefined;
  try {
    const p = new URL(parsed.url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

/** Driver message with the password scrubbed (drivers sometimes echo the connection string). */
export function driverMessage(parsed: ParsedStoreUrl, error: unknown): string {
  let message = error instanceof Error ? error.message || error.name : String(error);
  if (error instanceof AggregateError && error.errors.length > 0 && !error.message) {
    message = error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
  }
  message = conciseMessage(message);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && !message.includes(code)) message = `${code}: ${message}`;
  const password = passwordOf(parsed);
  if (password) message = message.split(password).join('***');
  return message;
}

/**
 * Prisma errors carry "Invalid `prisma.x()` invocation" and a code frame;
 * keep the lines that say what went wrong.
 */
function conciseMessage(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Invalid `.*` invocation/.test(l) && !/^(→\s*)?\d+\s/.test(l) && !l.startsWith('→') && !/^\/.*:\d+:\d+$/.test(l));
  return lines.join(' ').replace(/\.+$/, '');
}

const NOT_MIGRATED = /no such table|relation "[^"]*" does not exist|does not exist in the current database|P2021/;

/** Whether a driver error (or its message) says the store has no Lockscope tables yet: the one test for it. */
export function isNotMigrated(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const text = error instanceof Error ? error.message : String(error);
  return NOT_MIGRATED.test(text) || NOT_MIGRATED.test(String(code));
}

/** STORE_UNAVAILABLE naming the store (without password) and what to do about it. */
export function storeUnavailable(parsed: ParsedStoreUrl, error: unknown, doing = 'open'): LockscopeError {
  if (error instanceof LockscopeError) return error;
  const why = driverMessage(parsed, error);
  if (NOT_MIGRATED.test(why) || isNotMigrated(error)) {
    return new LockscopeError('STORE_UNAVAILABLE', `the store at ${parsed.display} is not migrated (${why}). Run \`npm run db:migrate\` (or store.migrate()) first.`, {
      cause: error,
      details: { store: parsed.display, provider: parsed.provider },
    });
  }
  const fix =
    parsed.provider === 'postgresql'
      ? 'Check that PostgreSQL is running and reachable, that the user, password and database in DATABASE_URL (or store.url in lockscope.yaml) are right, then run `npm run db:migrate`.'
      : 'Check that the path is a file (not a directory) in a writable directory and that no other program holds it locked; or set store.url in lockscope.yaml / DATABASE_URL.';
  return new LockscopeError('STORE_UNAVAILABLE', `cannot ${doing} the store at ${parsed.display}: ${why}. ${fix}`, {
    cause: error,
    details: { store: parsed.display, provider: parsed.provider },
  });
}
