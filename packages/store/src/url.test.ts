import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLockscopeError } from '@lockscope/core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStoreUrl, redactUrl, storeLeftBehind } from './url.js';

describe('parseStoreUrl', () => {
  it('resolves relative file: URLs against the given directory', () => {
    expect(parseStoreUrl('file:./.lockscope/lockscope.db', '/repo')).toEqual({ provider: 'sqlite', path: '/repo/.lockscope/lockscope.db', display: 'file:/repo/.lockscope/lockscope.db' });
    expect(parseStoreUrl('file:data/x.db?connection_limit=1', '/repo')).toMatchObject({ path: '/repo/data/x.db' });
  });

  it('keeps absolute paths, including file:///', () => {
    expect(parseStoreUrl('file:/var/lib/ls.db', '/repo')).toMatchObject({ path: '/var/lib/ls.db' });
    expect(parseStoreUrl('file:///var/lib/ls.db', '/repo')).toMatchObject({ path: '/var/lib/ls.db' });
  });

  it('picks PostgreSQL for postgres:// and postgresql:// and hides the password in display', () => {
    const p = parseStoreUrl('postgresql://lock:s3cr%40t@db.example:5432/lockscope');
    expect(p).toMatchObject({ provider: 'postgresql', display: 'postgresql://lock:***@db.example:5432/lockscope' });
    expect(parseStoreUrl('postgres://u@h/d').provider).toBe('postgresql');
  });

  it('refuses other schemes and empty paths with STORE_UNAVAILABLE naming the fix, never the password', () => {
    for (const url of ['mysql://root:hunter2@127.0.0.1/x', 'file:', 'file::memory:', 'lockscope.db']) {
      let caught: unknown;
      try {
        parseStoreUrl(url);
      } catch (error) {
        caught = error;
      }
      expect(isLockscopeError(caught, 'STORE_UNAVAILABLE'), url).toBe(true);
      expect((caught as Error).message).not.toContain('hunter2');
      expect((caught as Error).message).toMatch(/file:|postgresql:\/\//);
    }
  });
});

describe('redactUrl', () => {
  it('replaces only the password', () => {
    expect(redactUrl('postgresql://a:b@h:1/d?sslmode=require')).toBe('postgresql://a:***@h:1/d?sslmode=require');
    expect(redactUrl('postgresql://a@h/d')).toBe('postgresql://a@h/d');
    expect(redactUrl('not a url //user:pw@host')).toBe('not a url //user:***@host');
  });
});

describe('storeLeftBehind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-left-behind-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf'));
  const old = { dir, name: 'the working directory' };

  it('names a store that exists where a relative URL used to resolve, whether or not one exists at the new place', () => {
    expect(storeLeftBehind('file:./a.db', join(dir, 'conf'), old)).toBeNull();
    writeFileSync(join(dir, 'a.db'), '');
    const first = storeLeftBehind('file:./a.db', join(dir, 'conf'), old);
    expect(first).toContain(`an existing store at ${join(dir, 'a.db')} (the working directory) is not opened`);
    writeFileSync(join(dir, 'conf', 'a.db'), '');
    expect(storeLeftBehind('file:./a.db', join(dir, 'conf'), old)).toBe(first);
  });

  it('says nothing for an absolute path, the same directory, PostgreSQL or a bad URL', () => {
    writeFileSync(join(dir, 'b.db'), '');
    expect(storeLeftBehind(`file:${join(dir, 'b.db')}`, join(dir, 'conf'), old)).toBeNull();
    expect(storeLeftBehind('file:./b.db', dir, old)).toBeNull();
    expect(storeLeftBehind('postgresql://u:p@h/d', join(dir, 'conf'), old)).toBeNull();
    expect(storeLeftBehind('file:', join(dir, 'conf'), old)).toBeNull();
  });
});
