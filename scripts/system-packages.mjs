// The Debian packages Lockscope's demo and tests run (etcd, Redis, Chromium, ...):
// which are missing, and installing them with apt-get when this user may (root or
// passwordless sudo). Shared by scripts/demo.mjs and scripts/test.mjs, so the README's
// two commands set up a fresh machine the same way.
//
// Only node: built-ins here: this file runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** `{ pkg, bin }`: present when `bin` is on PATH; `{ pkg, python }`: when python3 can import that module. */
export function missingPackages(wanted, env = process.env) {
  return wanted.filter((w) => (w.bin ? !onPath(w.bin, env) : !pythonHas(w.python, env))).map((w) => w.pkg);
}

export function onPath(name, env = process.env) {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** Debian's python3-* packages install for Debian's own interpreter, not for a pyenv or venv one first on PATH. */
export function debianPython(env = process.env) {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : onPath('python3', env);
}

function pythonHas(module, env) {
  const python = debianPython(env);
  if (!python) return false;
  return spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore', env }).status === 0;
}

function canSudo(env) {
  if (!onPath('sudo', env)) return false;
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', env }).status === 0;
}

/**
 * How this process may run apt-get: [] as root, ['sudo', '-n'] with passwordless sudo,
 * null when it may not (or apt-get is not there).
 */
export function aptPrefix(env = process.env) {
  if (!onPath('apt-get', env)) return null;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) return [];
  return canSudo(env) ? ['sudo', '-n'] : null;
}

/**
 * Installs `packages` with apt-get (update first). Returns null on success, else a
 * sentence saying what failed; output goes to this terminal so a person sees progress.
 */
export function aptInstall(packages, prefix, env = process.env) {
  const run = (args) => {
    const [cmd, ...rest] = prefix.length ? [...prefix, 'apt-get', ...args] : ['apt-get', ...args];
    const r = spawnSync(cmd, rest, { stdio: 'inherit', env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
    return r.error ? r.error.message : r.status === 0 ? null : `exit code ${r.status}`;
  };
  const updated = run(['update']);
  if (updated) return `apt-get update failed (${updated})`;
  const installed = run(['install', '-y', '--no-install-recommends', ...packages]);
  return installed ? `apt-get install ${packages.join(' ')} failed (${installed})` : null;
}
