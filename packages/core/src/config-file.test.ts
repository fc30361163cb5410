import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLockscopeError } from './errors.js';
import { loadConfig } from './config-file.js';

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'lockscope.yaml'), 'store: { url: "file:./data/lockscope.db" }\n');

  it('resolves relative paths beside the config file, whatever the working directory', () => {
    const loaded = loadConfig({ flag: 'etc/lockscope.yaml', env: {}, cwd: dir });
    expect(loaded.path).toBe(join(dir, 'etc', 'lockscope.yaml'));
    expect(loaded.baseDir).toBe(join(dir, 'etc'));
    expect(loaded.config.store.url).toBe('file:./data/lockscope.db');
    const viaEnv = loadConfig({ env: { LOCKSCOPE_CONFIG: join(dir, 'etc', 'lockscope.yaml') }, cwd: '/' });
    expect(viaEnv.baseDir).toBe(join(dir, 'etc'));
  });

  it('falls back on the working directory with no config file, and DATABASE_URL still overrides', () => {
    const loaded = loadConfig({ env: { DATABASE_URL: 'file:./other.db' }, cwd: join(dir, 'etc', '..') });
    expect(loaded.path).toBeNull();
    expect(loaded.baseDir).toBe(dir);
    expect(loaded.config.store.url).toBe('file:./other.db');
  });

  it('fails naming the file when an explicit config is missing', () => {
    let error: unknown;
    try {
      loadConfig({ flag: 'nowhere.yaml', env: {}, cwd: dir });
    } catch (e) {
      error = e;
    }
    expect(isLockscopeError(error, 'BAD_CONFIG')).toBe(true);
    expect((error as Error).message).toBe(`config file not found: ${join(dir, 'nowhere.yaml')}`);
  });
});
