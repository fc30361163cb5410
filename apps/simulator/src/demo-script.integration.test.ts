import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary, startEtcd, startRedis } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

/** The environment without anything that would point the demo at other servers or stores. */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['LOCKSCOPE_DEMO_ETCD', 'LOCKSCOPE_DEMO_REDIS', 'DATABASE_URL', 'LOCKSCOPE_CONFIG']) if (!(k in extra)) delete env[k];
  return env;
}

/** A bin folder holding only the named tools, so PATH lacks etcd, redis-server, apt-get and sudo. */
function binDir(tools: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-demo-bin-'));
  for (const [name, target] of Object.entries(tools)) symlinkSync(target, join(dir, name));
  return dir;
}

async function runDemo(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['scripts/demo.mjs', ...args], { cwd, env, timeout: 60_000 });
    return { code: 0, out: `${r.stdout}${r.stderr}` };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// The real run drives the built dashboard, so it lives in demo-run.browser.test.ts (run one file at a time, never beside a dashboard build).
describe('npm run demo: prerequisites and --check', () => {
  it('in a fresh clone without etcd and redis-server on PATH, stops before installing anything and names the fix', async () => {
    const clone = mkdtempSync(join(tmpdir(), 'lockscope-demo-clone-'));
    const bin = binDir({ node: process.execPath, git: requireBinary('git') });
    try {
      await run('git', ['clone', '-q', '--depth', '1', `file://${root}`, clone], { timeout: 60_000 });
      expect(existsSync(join(clone, 'scripts/demo.mjs'))).toBe(true);
      expect(existsSync(join(clone, 'node_modules'))).toBe(false);

      // Forced "do not install" (a non-root user without sudo behaves the same).
      const forced = await runDemo(clone, [], baseEnv({ PATH: bin, LOCKSCOPE_DEMO_NO_INSTALL: '1' }));
      expect(forced.code).toBe(1);
      expect(forced.out).toContain('[1/8] Checking Node.js, etcd and redis-server');
      expect(forced.out).toContain('apt-get install etcd-server redis-server');
      expect(forced.out).toContain('docker compose up --build');
      expect(forced.out).toContain('LOCKSCOPE_DEMO_ETCD=');
      // It stopped at the first step: no npm ci, no build, nothing started.
      expect(forced.out).not.toContain('[2/8]');
      expect(existsSync(join(clone, 'node_modules'))).toBe(false);
      expect(existsSync(join(clone, 'apps/collector/dist'))).toBe(false);

      // Without the switch but with no apt-get on PATH it cannot install either; --check takes the same path.
      const noApt = await runDemo(clone, ['--check'], baseEnv({ PATH: bin }));
      expect(noApt.code).toBe(1);
      expect(noApt.out).toContain('apt-get install etcd-server redis-server');
      expect(noApt.out).toContain('docker compose up --build');

      // Only the missing one is named when etcd is there.
      const etcdBin = binDir({ node: process.execPath, etcd: requireBinary('etcd') });
      try {
        const onlyRedis = await runDemo(clone, [], baseEnv({ PATH: etcdBin, LOCKSCOPE_DEMO_NO_INSTALL: '1' }));
        expect(onlyRedis.code).toBe(1);
        expect(onlyRedis.out).toContain('apt-get install redis-server');
        expect(onlyRedis.out).not.toContain('install etcd-server');
      } finally {
        rmSync(etcdBin, { recursive: true, force: true });
      }
    } finally {
      rmSync(clone, { recursive: true, force: true });
      rmSync(bin, { recursive: true, force: true });
    }
  }, 120_000);

  it('--check uses etcd and Redis that are already running (LOCKSCOPE_DEMO_ETCD/REDIS) without needing the binaries', async () => {
    const etcd = await startEtcd();
    const redis = await startRedis().catch(async (error: unknown) => {
      await etcd.stop();
      throw error;
    });
    const demoDir = mkdtempSync(join(tmpdir(), 'lockscope-demo-check-'));
    const bin = binDir({ node: process.execPath, npm: requireBinary('npm'), sh: requireBinary('sh') });
    try {
      const r = await runDemo(root, ['--check'], baseEnv({
        PATH: bin,
        LOCKSCOPE_DEMO_DIR: demoDir,
        LOCKSCOPE_DEMO_SKIP_BUILD: '1',
        LOCKSCOPE_DEMO_ETCD: etcd.endpoints[0]!,
        LOCKSCOPE_DEMO_REDIS: redis.url,
      }));
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`using etcd at ${etcd.endpoints[0]} and Redis at ${redis.url}`);
      expect(r.out).toContain('Check passed.');
      expect(r.out).not.toMatch(/^\s+etcd --data-dir/m);
      expect(r.out).toContain(`--etcd ${etcd.endpoints[0]} --redis ${redis.url}`);
      const config = readFileSync(join(demoDir, 'lockscope.yaml'), 'utf8');
      expect(config).toContain(JSON.stringify(etcd.endpoints[0]));
      expect(config).toContain(JSON.stringify(redis.url));
      // The demo acts as a local operator, and says so.
      expect(config).toMatch(/auth: \{ mode: local-dev/);
      expect(r.out).toContain('dashboard.auth.mode: local-dev');
      // The store was migrated by the check.
      expect(existsSync(join(demoDir, 'lockscope.db'))).toBe(true);
    } finally {
      rmSync(bin, { recursive: true, force: true });
      rmSync(demoDir, { recursive: true, force: true });
      await redis.stop();
      await etcd.stop();
    }
  }, 90_000);
});
