import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
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
    const text = readConfigFile(candidate.path, candidate.explicit);
    if (text === null) continue;
    return { config: parseConfig(text, candidate.path, lookup.env), path: candidate.path, baseDir: dirname(candidate.path) };
  }
  return { config: parseConfig('{}', '(defaults)', lookup.env), path: null, baseDir: lookup.cwd };
}

/** A config file is hand-written YAML; anything larger is the wrong file. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads a config file with a size cap, refusing anything but a regular file: a FIFO would
 * block the open, /dev/zero would never end, /dev/null reads as nothing. Null when an
 * implicit candidate does not exist.
 */
function readConfigFile(path: string, explicit: boolean): string | null {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      if (explicit) throw new LockscopeError('BAD_CONFIG', `config file not found: ${path}`);
      return null;
    }
    throw new LockscopeError('BAD_CONFIG', `cannot read config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  checkRegularFile(path, stats);
  let fd: number;
  try {
    // O_NONBLOCK: should the path become a FIFO after the check, the open must not wait for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new LockscopeError('BAD_CONFIG', `cannot read config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    checkRegularFile(path, fstatSync(fd));
    // One byte past the cap tells "too large" from "exactly the cap", whatever the file did since the stat.
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === buffer.length) throw tooLarge(path);
    }
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof LockscopeError) throw error;
    throw new LockscopeError('BAD_CONFIG', `cannot read config file ${path}: ${(error as Error).message}`, { cause: error });
  } finally {
    closeSync(fd);
  }
}

function checkRegularFile(path: string, stats: Stats): void {
  if (stats.isDirectory()) throw new LockscopeError('BAD_CONFIG', `config file ${path} is a directory; name the lockscope.yaml inside it.`);
  if (!stats.isFile()) throw new LockscopeError('BAD_CONFIG', `config file ${path} is not a regular file (a device, FIFO or socket); name a lockscope.yaml file.`);
  if (stats.size > MAX_CONFIG_BYTES) throw tooLarge(path);
}

function tooLarge(path: string): LockscopeError {
  return new LockscopeError('BAD_CONFIG', `config file ${path} is larger than ${MAX_CONFIG_BYTES / 1024} KiB; is it the right file?`);
}
