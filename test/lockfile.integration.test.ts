import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/**
 * .ci/run, the Dockerfile and the demo install with npm ci, which refuses a lockfile that
 * npm considers out of sync with the package.json files; an `npm install` on Linux has
 * left out the optional dependencies for other platforms (turbo's macOS and Windows
 * binaries) before. npm itself judges it here, offline and without installing anything:
 * the package.json files and the lockfile are copied to a scratch directory.
 */
describe('package-lock.json', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'lockscope-lockfile-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is accepted by npm ci as it stands', () => {
    copyFileSync(join(root, 'package.json'), join(scratch, 'package.json'));
    copyFileSync(join(root, 'package-lock.json'), join(scratch, 'package-lock.json'));
    for (const group of ['apps', 'packages']) {
      for (const name of readdirSync(join(root, group))) {
        const manifest = join(root, group, name, 'package.json');
        if (!existsSync(manifest)) continue;
        mkdirSync(join(scratch, group, name), { recursive: true });
        copyFileSync(manifest, join(scratch, group, name, 'package.json'));
      }
    }
    const run = spawnSync('npm', ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: scratch,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.error, 'npm must be on PATH').toBeUndefined();
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('npm error')).join('\n');
    expect(run.status, `npm ci refused the lockfile (run npm install and commit package-lock.json):\n${errors}`).toBe(0);
  });
});
