import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchChromium, waitFor } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

/** The environment without anything that would point the demo at other servers or stores. */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['LOCKSCOPE_DEMO_ETCD', 'LOCKSCOPE_DEMO_REDIS', 'DATABASE_URL', 'LOCKSCOPE_CONFIG']) if (!(k in extra)) delete env[k];
  return env;
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

/** The dashboard as a person sees it: headless Chromium loads the page without errors. */
async function pageTitleAndErrors(url: string): Promise<{ status: number | null; text: string; errors: string[] }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const response = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
    return { status: response?.status() ?? null, text: await page.innerText('body'), errors };
  } finally {
    await browser.close();
  }
}

describe('npm run demo', () => {
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

          const page = await pageTitleAndErrors(dashboardUrl!);
          expect(page.status).toBe(200);
          expect(page.errors).toEqual([]);
          expect(page.text.length).toBeGreaterThan(0);
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
