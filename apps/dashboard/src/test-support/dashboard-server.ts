import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startChild, waitFor, type Child } from '@lockscope/testing';

export const dashboardDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const nextBin = join(dirname(createRequire(import.meta.url).resolve('next/package.json')), 'dist/bin/next');

/** Environment for the dashboard without anything from the developer's shell that would change its store. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...extra };
  if (!('DATABASE_URL' in extra)) delete env.DATABASE_URL;
  if (!('LOCKSCOPE_CONFIG' in extra)) delete env.LOCKSCOPE_CONFIG;
  return env;
}

/** `next build` of the real dashboard (the same command as its package.json build script). */
export async function buildDashboard(): Promise<void> {
  try {
    await promisify(execFile)(process.execPath, [nextBin, 'build', '--webpack'], { cwd: dashboardDir, env: cleanEnv({}), maxBuffer: 20 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`next build failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

export interface DashboardServer {
  url: string;
  child: Child;
  stop(): Promise<void>;
}

/** `next start` on a free loopback port, ready once it answers HTTP. */
export function startDashboard(env: Record<string, string>, port?: number): Promise<DashboardServer> {
  return startNext('start', env, port);
}

/** `next dev --webpack` (the package's dev script) on a free loopback port, ready once it answers HTTP. */
export function startDevDashboard(env: Record<string, string>): Promise<DashboardServer> {
  return startNext('dev', env);
}

/** `port`: when the config must name the URL up front (OIDC redirect URIs). */
async function startNext(mode: 'start' | 'dev', env: Record<string, string>, chosenPort?: number): Promise<DashboardServer> {
  const port = chosenPort ?? (await freePort());
  const args = mode === 'dev' ? ['dev', '--webpack'] : ['start'];
  const child = startChild(process.execPath, [nextBin, ...args, '-H', '127.0.0.1', '-p', String(port)], { cwd: dashboardDir, env: cleanEnv(env) });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.process.exitCode !== null) throw new Error(`next ${mode} exited with ${child.process.exitCode}:\n${child.output()}`);
        const r = await fetch(`${url}/sources`).catch(() => null);
        return r !== null && r.status < 500;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: `the dashboard on ${url}` },
    );
  } catch (error) {
    await child.stop();
    throw new Error(`${(error as Error).message}\n--- server output ---\n${child.output()}`);
  }
  return { url, child, stop: () => child.stop(5_000) };
}
