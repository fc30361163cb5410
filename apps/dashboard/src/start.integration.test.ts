import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startChild, waitFor } from '@lockscope/testing';
import { dashboardDir } from './test-support/dashboard-server';

// The package's start script (bin/start.mjs) on the built dashboard (npm test builds first).
describe('npm run start -w @lockscope/dashboard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-dashboard-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startAndReach(env: Record<string, string>, port: number, args: string[] = []): Promise<string> {
    const clean: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env };
    for (const name of ['DATABASE_URL', 'LOCKSCOPE_DASHBOARD_HOST', 'LOCKSCOPE_DASHBOARD_PORT']) if (!(name in env)) delete clean[name];
    const child = startChild(process.execPath, [join(dashboardDir, 'bin/start.mjs'), ...args], { cwd: dashboardDir, env: clean });
    try {
      await waitFor(
        async () => {
          if (child.process.exitCode !== null) throw new Error(`the start script exited with ${child.process.exitCode}:\n${child.output()}`);
          return (await fetch(`http://127.0.0.1:${port}/api/v1/sources`).catch(() => null)) !== null;
        },
        { timeoutMs: 60_000, intervalMs: 200, message: `the dashboard on port ${port}\n${child.output()}` },
      );
    } finally {
      await child.stop(5_000);
    }
    // The SIGTERM reached next's own handler, which exits 128 + 15 (the SIGKILL that
    // follows the grace period would leave no exit code), and nothing listens on the port.
    expect(await child.exited).toBe(143);
    expect(await fetch(`http://127.0.0.1:${port}/api/v1/sources`).catch(() => null)).toBeNull();
    return child.output();
  }

  it("listens where the config's dashboard block says", async () => {
    const port = await freePort();
    const config = join(dir, 'listen.yaml');
    writeFileSync(config, `store: { url: "file:./listen.db" }\ndashboard: { host: "127.0.0.1", port: ${port} }\n`);
    const output = await startAndReach({ LOCKSCOPE_CONFIG: config }, port);
    expect(output).toContain(`store file:${join(dir, 'listen.db')}`);
  });

  it('lets LOCKSCOPE_DASHBOARD_PORT override the config, and -p after -- override both', async () => {
    const [fromFile, fromEnv, fromFlag] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'override.yaml');
    writeFileSync(config, `dashboard: { port: ${fromFile} }\n`);
    await startAndReach({ LOCKSCOPE_CONFIG: config, LOCKSCOPE_DASHBOARD_PORT: String(fromEnv) }, fromEnv);
    await startAndReach({ LOCKSCOPE_CONFIG: config, LOCKSCOPE_DASHBOARD_PORT: String(fromEnv) }, fromFlag, ['-p', String(fromFlag)]);
  });

  it('listens on 0.0.0.0 without auth only when told the port is published on loopback (containers), and says so', async () => {
    const port = await freePort();
    const config = join(dir, 'container.yaml');
    writeFileSync(config, `store: { url: "file:./container.db" }\ndashboard: { host: "0.0.0.0", port: ${port} }\n`);
    const output = await startAndReach({ LOCKSCOPE_CONFIG: config, LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK: '1' }, port);
    expect(output).toContain('LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK=1: read-only');
  });

  async function refused(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; output: string }> {
    const clean: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env };
    for (const name of ['DATABASE_URL', 'LOCKSCOPE_DASHBOARD_HOST', 'LOCKSCOPE_DASHBOARD_PORT']) if (!(name in env)) delete clean[name];
    const child = startChild(process.execPath, [join(dashboardDir, 'bin/start.mjs'), ...args], { cwd: dashboardDir, env: clean });
    try {
      const code = await Promise.race([child.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref())]);
      if (code === 'running') throw new Error(`the start script kept running instead of refusing:\n${child.output()}`);
      return { code, output: child.output() };
    } finally {
      await child.stop(5_000);
    }
  }

  it('refuses 0.0.0.0 without dashboard.auth, or with local-dev, naming what to configure', async () => {
    const port = await freePort();
    const none = join(dir, 'no-auth.yaml');
    writeFileSync(none, `dashboard: { host: "0.0.0.0", port: ${port} }\n`);
    const a = await refused({ LOCKSCOPE_CONFIG: none });
    expect(a.code).toBe(2);
    expect(a.output).toContain('refusing to listen on 0.0.0.0');
    expect(a.output).toContain('no dashboard.auth');
    expect(a.output).toMatch(/mode: oidc/);

    const local = join(dir, 'local-dev.yaml');
    writeFileSync(local, `dashboard: { port: ${port}, auth: { mode: local-dev } }\n`);
    const b = await refused({ LOCKSCOPE_CONFIG: local }, ['-H', '0.0.0.0']);
    expect(b.code).toBe(2);
    expect(b.output).toContain('local-dev');
    const c = await refused({ LOCKSCOPE_CONFIG: none, LOCKSCOPE_DASHBOARD_HOST: '192.168.1.5' });
    expect(c.code).toBe(2);
    expect(c.output).toContain('refusing to listen on 192.168.1.5');
    // The container escape hatch lifts the check only for a read-only dashboard, never for local-dev.
    const d = await refused({ LOCKSCOPE_CONFIG: local, LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK: '1' }, ['-H', '0.0.0.0']);
    expect(d.code).toBe(2);
    expect(await fetch(`http://127.0.0.1:${port}/api/v1/sources`).catch(() => null)).toBeNull();
  });
});
