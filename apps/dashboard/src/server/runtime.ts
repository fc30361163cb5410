import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig, type LockscopeConfig } from '@lockscope/core';
import { openStore, type Store } from '@lockscope/store';
import { z } from 'zod';
import { resolveAuthSettings, type AuthSettings } from './auth/auth-settings';

/** The environment the dashboard reads, parsed once. */
const envSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  LOCKSCOPE_CONFIG: z.string().min(1).optional(),
});

export interface Runtime {
  config: LockscopeConfig;
  /** Where a relative `file:` store URL resolves: the config file's directory, else the repository root. */
  baseDir: string;
  /** dashboard.auth with its secrets read (never logged). */
  auth: AuthSettings;
  getStore(): Promise<Store>;
  close(): Promise<void>;
}

/**
 * The repo root: the nearest folder up from `start` whose package.json has
 * workspaces. `next start` runs in apps/dashboard, but the default store file
 * and lockscope.yaml live at the root, where the collector writes them.
 */
export function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { workspaces?: unknown }).workspaces) return dir;
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
}

export function createRuntime(env: NodeJS.ProcessEnv, cwd: string): Runtime {
  const parsedEnv = envSchema.parse(env);
  const root = findRepoRoot(cwd);
  const { config, baseDir } = loadConfig({ env: parsedEnv, cwd: root });
  // Secret references name their own variables, so this one reader gets the whole environment.
  const auth = resolveAuthSettings(config.dashboard.auth, env, baseDir);
  let opening: Promise<Store> | null = null;
  return {
    config,
    baseDir,
    auth,
    getStore() {
      // A failed open is not remembered: the next request tries again, so the
      // dashboard recovers by itself when the database comes back.
      opening ??= openStore({ url: config.store.url, cwd: baseDir }).catch((error: unknown) => {
        opening = null;
        throw error;
      });
      return opening;
    },
    async close() {
      const pending = opening;
      opening = null;
      if (pending) await (await pending.catch(() => null))?.close();
    },
  };
}

// One runtime per server process; Next may load this module in several bundles, so keep it on globalThis.
const key = Symbol.for('lockscope.dashboard.runtime');
type Holder = { [key]?: Runtime };

export function runtime(): Runtime {
  const holder = globalThis as Holder;
  holder[key] ??= createRuntime(process.env, process.cwd());
  return holder[key];
}
