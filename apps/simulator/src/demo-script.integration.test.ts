import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary, startEtcd, startRedis, waitFor } from '@lockscope/testing';
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

/** Live (non-zombie) processes whose environment carries this marker. */
function processesMarked(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) continue;
      if (/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'latin1'))) continue;
      found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

describe('npm run demo', () => {
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
      // The store was migrated by the check.
      expect(existsSync(join(demoDir, 'lockscope.db'))).toBe(true);
    } finally {
      rmSync(bin, { recursive: true, force: true });
      rmSync(demoDir, { recursive: true, force: true });
      await redis.stop();
      await etcd.stop();
    }
  }, 90_000);

  it('runs for real: the dashboard answers, the collector is healthy, the fleet runs; Ctrl-C leaves nothing running, and a second run works too', async () => {
    // `npm test` builds first; the demo's own build step is `npm run build`, skipped here so two builds never race.
    for (const f of ['apps/collector/dist/main.js', 'apps/simulator/dist/main.js', 'apps/dashboard/.next/BUILD_ID']) {
      if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run npm run build before this test`);
    }
    const demoDir = mkdtempSync(join(tmpdir(), 'lockscope-demo-state-'));
    const marker = `LOCKSCOPE_TEST_MARK=${randomUUID()}`;
    try {
      for (const round of [1, 2]) {
        const child = spawn('npm', ['run', 'demo'], {
          cwd: root,
          // Its own process group, like a terminal's foreground job: Ctrl-C reaches npm, sh and node alike.
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: baseEnv({
            LOCKSCOPE_DEMO_DIR: demoDir,
            LOCKSCOPE_DEMO_SKIP_BUILD: '1',
            // A safety net: even if this test dies, the demo stops itself.
            LOCKSCOPE_DEMO_EXIT_AFTER_READY: '240',
            [marker.split('=')[0]!]: marker.split('=')[1]!,
          }),
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<string>((r) => child.once('exit', (code, signal) => r(String(code ?? signal))));
        try {
          await waitFor(() => {
            if (child.exitCode !== null) throw new Error(`demo exited early (${child.exitCode}):\n${out}`);
            return out.includes('Lockscope demo is running.');
          }, { timeoutMs: 150_000, intervalMs: 200, message: `the demo to be ready (round ${round})` });
          for (let s = 1; s <= 8; s++) expect(out).toMatch(new RegExp(`\\[${s}/8\\] `));
          const dashboardUrl = /Dashboard:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
          const healthz = /Collector:\s+(http:\/\/127\.0\.0\.1:\d+\/healthz)/.exec(out)?.[1];
          expect(dashboardUrl).toBeDefined();
          expect(healthz).toBeDefined();
          expect(out).toContain(`lockctl.js ls --config ${join(demoDir, 'lockscope.yaml')}`);

          const page = await fetch(dashboardUrl!);
          expect(page.status).toBe(200);
          expect(await page.text()).toMatch(/<html/i);
          const health = await waitFor(async () => {
            const r = await fetch(healthz!);
            return r.status === 200 ? ((await r.json()) as unknown) : false;
          }, { timeoutMs: 30_000, message: 'collector /healthz 200' });
          expect(health).toBeTruthy();
          // The simulator is driving real locks: the leader line comes from etcd's answer.
          await waitFor(() => /sim \| leader: scheduler-[abc] leads \/locks\/cron-leader/.test(out), { timeoutMs: 20_000, message: 'the simulator’s first leader' });
          expect(readFileSync(join(demoDir, 'lockscope.yaml'), 'utf8')).toContain('kind: etcd');
          expect(processesMarked(marker).length).toBeGreaterThanOrEqual(5);

          process.kill(-child.pid!, 'SIGINT');
          const how = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000))]);
          // npm itself may die of the SIGINT it got from the "terminal"; the demo under it exits 0.
          expect(['0', 'SIGINT']).toContain(how);
          await waitFor(() => processesMarked(marker).length === 0, { timeoutMs: 30_000, message: 'every demo process to be gone' });
          expect(out).toContain('stopped simulator');
          expect(out).toContain('stopped etcd');
          expect(out).not.toContain('exited unexpectedly');
          expect(await fetch(healthz!).then(() => 'up', () => 'down')).toBe('down');
        } finally {
          if (child.exitCode === null) {
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          for (const pid of processesMarked(marker)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
        if (round === 2) expect(out).not.toContain('left over');
      }
      // Both runs kept their data in the demo folder.
      expect(existsSync(join(demoDir, 'etcd'))).toBe(true);
      expect(existsSync(join(demoDir, 'lockscope.db'))).toBe(true);
    } finally {
      rmSync(demoDir, { recursive: true, force: true });
    }
  }, 400_000);
});
