// The README's test command on a machine that lacks the tests' system packages: it asks
// apt-get for exactly what is missing. apt-get is the one stand-in here (installing and
// removing real Debian packages would change the machine under every other test).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'lockscope-test-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeMachine(present: string[]): { bin: string; log: string } {
  const bin = mkdtempSync(join(dir, 'bin-'));
  const log = join(bin, 'apt.log');
  for (const name of ['node', 'sh', 'python3', ...present]) {
    const real = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    expect(real, `${name} on this machine`).not.toBe('');
    symlinkSync(real, join(bin, name));
  }
  // "Installs" a package by putting its binary on PATH, as the real one would.
  const provides: Record<string, string> = { 'etcd-server': 'etcd', 'etcd-client': 'etcdctl', 'redis-server': 'redis-server', chromium: 'chromium' };
  writeFileSync(
    join(bin, 'apt-get'),
    `#!/bin/sh\necho "$*" >> ${log}\nfor p in "$@"; do case "$p" in ${Object.entries(provides)
      .map(([pkg, b]) => `${pkg}) /bin/ln -sf /bin/true ${join(bin, b)};;`)
      .join(' ')} esac; done\n`,
  );
  chmodSync(join(bin, 'apt-get'), 0o755);
  return { bin, log };
}

describe('npm test on a fresh machine', () => {
  it('installs the missing packages with apt-get, and only those', () => {
    const { bin, log } = fakeMachine(['redis-server', 'etcd']);
    const r = spawnSync('node', [join(root, 'scripts/test.mjs'), '--setup-only'], {
      cwd: root,
      env: { PATH: bin, HOME: dir, LOCKSCOPE_TEST_PG_URL: 'postgresql://127.0.0.1:5432/postgres' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('installing etcd-client chromium with apt-get');
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['update', 'install -y --no-install-recommends etcd-client chromium']);
    expect(r.stdout).toContain('setup done');
  });

  it('says what to install when it may not run apt-get', () => {
    const { bin } = fakeMachine([]);
    rmSync(join(bin, 'apt-get'));
    const r = spawnSync('node', [join(root, 'scripts/test.mjs'), '--setup-only'], { cwd: root, env: { PATH: bin, HOME: dir }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('sudo apt-get update && sudo apt-get install etcd-server etcd-client redis-server chromium');
  });
});
