#!/usr/bin/env node
// `npm run start -w @lockscope/dashboard [-- next start options]`: `next start` on the
// address lockscope.yaml's `dashboard: { host, port }` names. LOCKSCOPE_DASHBOARD_HOST and
// LOCKSCOPE_DASHBOARD_PORT override the file, and -H / -p given after `--` override both.
// The config is found as the dashboard finds it (LOCKSCOPE_CONFIG, else lockscope.yaml at
// the repository root). Only the dashboard block is read here: the server validates the
// whole file when it starts and fails with the path and line of a bad value.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The nearest folder up from the dashboard whose package.json has workspaces (as server/runtime.ts). */
function repoRoot(start) {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).workspaces) return dir;
      } catch {
        // unreadable package.json: keep walking
      }
    }
    if (dirname(dir) === dir) return start;
  }
}

/** host and port from the config's dashboard block, where they are valid; the server reports the rest. */
function fromConfig() {
  const root = repoRoot(appDir);
  const path = process.env.LOCKSCOPE_CONFIG ? resolve(root, process.env.LOCKSCOPE_CONFIG) : join(root, 'lockscope.yaml');
  if (!existsSync(path)) return {};
  let block;
  try {
    block = parse(readFileSync(path, 'utf8'))?.dashboard;
  } catch {
    return {};
  }
  if (block === null || typeof block !== 'object') return {};
  const out = {};
  if (typeof block.host === 'string' && block.host !== '') out.host = block.host;
  if (Number.isInteger(block.port) && block.port >= 1 && block.port <= 65535) out.port = String(block.port);
  const mode = block.auth && typeof block.auth === 'object' ? block.auth.mode : undefined;
  out.authMode = typeof mode === 'string' ? mode : null;
  return out;
}

const passed = process.argv.slice(2);
const named = (short, long) => passed.some((a) => a === short || a === long || a.startsWith(`${long}=`));
const config = fromConfig();
const host = process.env.LOCKSCOPE_DASHBOARD_HOST || config.host || '127.0.0.1';
const port = process.env.LOCKSCOPE_DASHBOARD_PORT || config.port || '3000';

/** The value given to -H / --hostname after `--`, if any. */
function passedHost() {
  for (let i = 0; i < passed.length; i++) {
    const a = passed[i];
    if (a === '-H' || a === '--hostname') return passed[i + 1];
    if (a.startsWith('--hostname=')) return a.slice('--hostname='.length);
  }
  return undefined;
}

const isLoopback = (h) => h === 'localhost' || h === '::1' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
const bindHost = passedHost() ?? host;
// Without sign-in anyone who reaches the port would see every lock, and with local-dev
// act as its operator: so both stay on loopback. The server checks auth again per request.
// A container must bind 0.0.0.0 to be reachable through a port published on the host's
// loopback (docker-compose.yml); LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK=1 says so
// explicitly. It only lifts this check for a read-only dashboard (no auth), never local-dev.
const publishedOnLoopback = process.env.LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK === '1' && (config.authMode === null || config.authMode === undefined);
if (publishedOnLoopback && !isLoopback(bindHost)) {
  console.error(`lockscope dashboard: listening on ${bindHost} without dashboard.auth because LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK=1: read-only; publish the port on loopback only.`);
}
if (!isLoopback(bindHost) && !publishedOnLoopback && (config.authMode === null || config.authMode === 'local-dev' || config.authMode === undefined)) {
  const why = config.authMode === 'local-dev' ? 'dashboard.auth.mode is local-dev, which makes every visitor the local operator' : 'lockscope.yaml configures no dashboard.auth, so nobody signs in';
  console.error(
    `lockscope dashboard: refusing to listen on ${bindHost}: ${why}.\n` +
      'Either keep it on loopback (dashboard.host: 127.0.0.1, the default) or configure sign-in in lockscope.yaml:\n' +
      '  dashboard:\n' +
      `    host: ${JSON.stringify(bindHost)}\n` +
      '    auth:\n' +
      '      mode: oidc\n' +
      '      publicUrl: https://lockscope.example.com\n' +
      '      sessionSecret: { env: LOCKSCOPE_SESSION_SECRET }\n' +
      '      oidc: { issuer: https://idp.example.com, clientId: lockscope, clientSecret: { env: LOCKSCOPE_OIDC_CLIENT_SECRET } }\n' +
      '      roles: { groups: { sre: operator, platform-admins: admin } }\n' +
      'See apps/dashboard/README.md ("Sign-in and roles").',
  );
  process.exit(2);
}
const args = ['start', ...(named('-H', '--hostname') ? [] : ['-H', host]), ...(named('-p', '--port') ? [] : ['-p', port]), ...passed];

const nextBin = join(dirname(createRequire(import.meta.url).resolve('next/package.json')), 'dist/bin/next');
// next's own CLI, in this process: the launcher is the server, so signals, the exit status
// and process supervisors see next directly, with no child to forward to or leave behind.
process.chdir(appDir);
process.argv = [process.execPath, nextBin, ...args];
createRequire(import.meta.url)(nextBin);
