import { existsSync } from 'node:fs';
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

/**
 * Earlier versions resolved a relative file: URL elsewhere (the collector against its
 * working directory, the dashboard against the repository root). A store left there is
 * not opened any more: the sentence to log while one exists, else null. It is checked at
 * every start, not only while nothing is at the new place, because the first start
 * creates an empty store there.
 */
export function storeLeftBehind(url: string, baseDir: string, previous: { dir: string; name: string }): string | null {
  let now: ParsedStoreUrl;
  let before: ParsedStoreUrl;
  try {
    now = parseStoreUrl(url, baseDir);
    before = parseStoreUrl(url, previous.dir);
  } catch {
    return null; // a bad URL: opening the store says what is wrong with it
  }
  if (now.provider !== 'sqlite' || before.provider !== 'sqlite' || now.path === before.path || !existsSync(before.path)) return null;
  return (
    `store.url ${JSON.stringify(url)} now resolves beside the config file (${baseDir}), as every Lockscope app resolves it; ` +
    `an existing store at ${before.path} (${previous.name}) is not opened. Move it there or give an absolute file: URL.`
  );
}

export function sqliteDir(parsed: { path: string }): string {
  return dirname(parsed.path);
}
