import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseConfig, type LockscopeConfig } from './config.js';
import { LockscopeError } from './errors.js';

// The one I/O exception in core: every app reads lockscope.yaml the same way
// at start-up, so the lookup order lives in one place.

export interface ConfigLookup {
  /** --config flag. */
  flag?: string | undefined;
  /** Parsed once at start-up by the app; nothing here reads process.env. */
  env: { LOCKSCOPE_CONFIG?: string | undefined; DATABASE_URL?: string | undefined; XDG_CONFIG_HOME?: string | undefined };
  cwd: string;
  /** Also look in the user's config directory (lockctl does; the collector does not). */
  userConfigDir?: boolean;
}

export interface LoadedConfig {
  config: LockscopeConfig;
  /** The file read, or null when defaults were used. */
  path: string | null;
  /**
   * Where relative paths in the config resolve (a `file:` store URL, also from
   * DATABASE_URL): the config file's directory, else the working directory. Every app
   * uses it, so one lockscope.yaml names one database whatever directory each runs from.
   */
  baseDir: string;
}

/** Candidate paths in lookup order: --config, LOCKSCOPE_CONFIG, ./lockscope.yaml, user config dir. */
export function configCandidates(lookup: ConfigLookup): { path: string; explicit: boolean }[] {
  const list: { path: string; explicit: boolean }[] = [];
  if (lookup.flag) list.push({ path: resolve(lookup.cwd, lookup.flag), explicit: true });
  else if (lookup.env.LOCKSCOPE_CONFIG) list.push({ path: resolve(lookup.cwd, lookup.env.LOCKSCOPE_CONFIG), explicit: true });
  else {
    list.push({ path: join(lookup.cwd, 'lockscope.yaml'), explicit: false });
    if (lookup.userConfigDir) {
      const base = lookup.env.XDG_CONFIG_HOME || join(homedir(), '.config');
      list.push({ path: join(base, 'lockscope', 'lockscope.yaml'), explicit: false });
    }
  }
  return list;
}

/**
 * Finds and parses the config. An explicitly named file that is missing is an
 * error; with no file at all the defaults apply (no sources).
 */
export function loadConfig(lookup: ConfigLookup): LoadedConfig {
  for (const candidate of configCandidates(lookup)) {
    if (!existsSync(candidate.path)) {
      if (candidate.explicit) throw new LockscopeError('BAD_CONFIG', `config file not found: ${candidate.path}`);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(candidate.path, 'utf8');
    } catch (error) {
      throw new LockscopeError('BAD_CONFIG', `cannot read config file ${candidate.path}: ${(error as Error).message}`, { cause: error });
    }
    return { config: parseConfig(text, candidate.path, lookup.env), path: candidate.path, baseDir: dirname(candidate.path) };
  }
  return { config: parseConfig('{}', '(defaults)', lookup.env), path: null, baseDir: lookup.cwd };
}
