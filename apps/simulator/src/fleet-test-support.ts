// Shared by the fleet tests (integration and browser): the built binaries they
// run, and lockctl as a subprocess that ignores the caller's environment.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const root = resolve(import.meta.dirname, '../../..');

export const bins = {
  collector: join(root, 'apps/collector/bin/lockscope-collector.js'),
  lockctl: join(root, 'apps/cli/bin/lockctl.js'),
  simulator: join(root, 'apps/simulator/bin/lockscope-simulator.js'),
};

/** Fails with the fix when a binary the test runs has not been built. */
export function requireBuilt(): void {
  for (const [name, bin] of Object.entries(bins)) {
    if (!existsSync(join(bin, '../../dist'))) throw new Error(`${name} is not built (${bin}): run npm run build before this test`);
  }
}

/** The process environment without the variables that would point the binaries at another store or config. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.LOCKSCOPE_CONFIG;
  return env;
}

/** The fields of `lockctl ls --json` rows the fleet tests read. */
export interface LsRow {
  source: string;
  name: string;
  dialect: string;
  holder: string | null;
  token: string | null;
  waiters: number | null;
}

/** Runs the built lockctl with --json and parses its output. */
/** Runs lockctl with --json; exits other than 0 (or those in allowExit) throw. */
export async function lockctl(args: string[], { allowExit = [0] }: { allowExit?: number[] } = {}): Promise<unknown> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [bins.lockctl, ...args, '--json'], { env: cleanEnv(), timeout: 30_000 });
    return JSON.parse(stdout) as unknown;
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string };
    // doctor exits 1 when it finds a critical hazard, with its findings on stdout.
    if (typeof failed.code === 'number' && allowExit.includes(failed.code) && failed.stdout) return JSON.parse(failed.stdout) as unknown;
    throw error;
  }
}
