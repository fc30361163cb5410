import { dirname, isAbsolute, resolve } from 'node:path';
import { LockscopeError } from '@lockscope/core';

export type StoreProvider = 'sqlite' | 'postgresql';

export type ParsedStoreUrl =
  | { provider: 'sqlite'; /** Absolute path of the database file. */ path: string; display: string }
  | { provider: 'postgresql'; url: string; display: string };

export const DEFAULT_STORE_URL = 'file:./.lockscope/lockscope.db';

/** The URL with any password replaced, safe for logs and error messages. */
export function redactUrl(url: string): string {
  // file: URLs carry no secrets, and URL parsing would rewrite relative paths.
  if (url.trim().startsWith('file:')) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not a parseable URL: still hide anything that looks like user:pass@.
    return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  }
}

/**
 * Picks the provider from the URL. Relative `file:` paths resolve against
 * `cwd` (the caller decides: process cwd, or INIT_CWD for npm scripts).
 */
export function parseStoreUrl(url: string, cwd: string = process.cwd()): ParsedStoreUrl {
  const trimmed = url.trim();
  if (trimmed.startsWith('file:')) {
    // Prisma-style SQLite URLs may carry ?connection_limit=... etc.; the path ends before '?'.
    let path = trimmed.slice('file:'.length).split('?')[0] ?? '';
    if (path.startsWith('//')) path = path.slice(2); // file:///abs/path
    if (path === '' || path === ':memory:') {
      throw new LockscopeError(
        'STORE_UNAVAILABLE',
        `store URL "${trimmed}" does not name a database file. Use e.g. ${DEFAULT_STORE_URL} or an absolute file:/path/to/lockscope.db.`,
      );
    }
    const abs = isAbsolute(path) ? path : resolve(cwd, path);
    return { provider: 'sqlite', path: abs, display: `file:${abs}` };
  }
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    try {
      new URL(trimmed);
    } catch {
      throw new LockscopeError(
        'STORE_UNAVAILABLE',
        `store URL "${redactUrl(trimmed)}" is not a valid PostgreSQL URL. Use postgresql://user:password@host:5432/database (percent-encode special characters in the password).`,
      );
    }
    return { provider: 'postgresql', url: trimmed, display: redactUrl(trimmed) };
  }
  throw new LockscopeError(
    'STORE_UNAVAILABLE',
    `store URL "${redactUrl(trimmed)}" is not supported. Use a SQLite file (${DEFAULT_STORE_URL}) or postgresql://user:password@host:5432/database (store.url in lockscope.yaml or DATABASE_URL).`,
  );
}

export function sqliteDir(parsed: { path: string }): string {
  return dirname(parsed.path);
}
