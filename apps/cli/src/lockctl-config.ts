import { loadConfig, type LockscopeConfig } from '@lockscope/core';
import { cliEnv } from './cli-env.js';

export interface LockctlConfig {
  config: LockscopeConfig;
  /** The file read, or null when no file was found (defaults, no sources). */
  path: string | null;
  /** Where local state (the audit spool) lives: beside the config file, else the working directory. */
  stateDir: string;
}

/** --config, LOCKSCOPE_CONFIG, ./lockscope.yaml, then the user config dir. */
export function loadLockctlConfig(flag: string | undefined): LockctlConfig {
  const env = cliEnv();
  const cwd = process.cwd();
  const loaded = loadConfig({
    flag,
    env: { LOCKSCOPE_CONFIG: env.LOCKSCOPE_CONFIG, DATABASE_URL: env.DATABASE_URL, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME },
    cwd,
    userConfigDir: true,
  });
  return { ...loaded, stateDir: loaded.baseDir };
}
