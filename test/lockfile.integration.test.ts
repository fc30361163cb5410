import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
      timeout: 50_000,
    });
    expect(run.error?.message, 'npm ci --dry-run could not run to its end').toBeUndefined();
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('npm error')).join('\n');
    expect(run.status, `npm ci refused the lockfile (run npm install and commit package-lock.json):\n${errors}`).toBe(0);
  });

  // npm ci --offline may treat an optional package missing from its cache as one that
  // failed to install, and pass: the lockfile's own graph is checked too, by Node's lookup
  // rule (a package's node_modules, then each enclosing one up to the root's).
  it('lists every dependency, optional ones for other platforms included, that a package in it names', () => {
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>;
    };
    const enclosing = (key: string): string[] => {
      const out = [key];
      for (let at = key; at !== ''; ) {
        const cut = at.lastIndexOf('/node_modules/');
        at = cut >= 0 ? at.slice(0, cut) : '';
        out.push(at);
      }
      return out;
    };
    const missing: string[] = [];
    for (const [key, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
        const found = enclosing(key).some((dir) => `${dir === '' ? '' : `${dir}/`}node_modules/${name}` in lock.packages);
        if (!found) missing.push(`${key || '(root)'} -> ${name}`);
      }
    }
    expect(missing, 'package-lock.json lacks these packages: run npm install on a clean tree and commit it').toEqual([]);
  });
});
