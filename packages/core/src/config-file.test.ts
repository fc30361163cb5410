import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLockscopeError } from './errors.js';
import { loadConfig, MAX_CONFIG_BYTES } from './config-file.js';

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
  function badConfig(flag: string): string {
    try {
      loadConfig({ flag, env: {}, cwd: dir });
    } catch (error) {
      expect(isLockscopeError(error, 'BAD_CONFIG')).toBe(true);
      return (error as Error).message;
    }
    throw new Error(`expected ${flag} to be refused`);
  }

  it('refuses devices, FIFOs and directories without reading them (/dev/zero would never end)', () => {
    const started = performance.now();
    expect(badConfig('/dev/zero')).toBe('config file /dev/zero is not a regular file (a device, FIFO or socket); name a lockscope.yaml file.');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(badConfig('/dev/null')).toBe('config file /dev/null is not a regular file (a device, FIFO or socket); name a lockscope.yaml file.');
    expect(existsSync('/dev/.lockscope')).toBe(false);
    execFileSync('mkfifo', [join(dir, 'fifo.yaml')]);
    // Opening a FIFO for reading blocks until a writer comes: this would hang if it were opened.
    expect(badConfig('fifo.yaml')).toBe(`config file ${join(dir, 'fifo.yaml')} is not a regular file (a device, FIFO or socket); name a lockscope.yaml file.`);
    expect(badConfig('etc')).toBe(`config file ${join(dir, 'etc')} is a directory; name the lockscope.yaml inside it.`);
  });

  it('caps the size of the file it reads, and refuses an empty one', () => {
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n{}\n`);
    expect(badConfig('big.yaml')).toBe(`config file ${join(dir, 'big.yaml')} is larger than 1024 KiB; is it the right file?`);
    writeFileSync(join(dir, 'exact.yaml'), `{}${' '.repeat(MAX_CONFIG_BYTES - 3)}\n`);
    expect(loadConfig({ flag: 'exact.yaml', env: {}, cwd: dir }).config.sources).toEqual([]);
    writeFileSync(join(dir, 'empty.yaml'), '');
    expect(badConfig('empty.yaml')).toBe(`${join(dir, 'empty.yaml')} is empty; write \`{}\` in it to run on the defaults.`);
  });
});
