#!/usr/bin/env node
// `npm run demo`: from a fresh clone to Lockscope watching a live, simulated
// lock fleet. Checks etcd/redis-server (installing them from Debian packages
// when allowed), installs npm dependencies, builds, starts etcd and Redis with
// their data in .lockscope/demo/, migrates the SQLite store, then runs the
// collector, the dashboard and the simulator until Ctrl-C, which stops every
// process this script started.
//
// Only node: built-ins here: this file runs before node_modules exists.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { aptInstall, aptPrefix, onPath } from './system-packages.mjs';

const root = resolve(import.meta.dirname, '..');
const USAGE = `Usage: npm run demo [-- --check]

Starts etcd, Redis, the Lockscope collector, the dashboard and a simulated lock
fleet; Ctrl-C stops them all.

  --check   prepare everything (system packages, npm dependencies, build,
            config, store migration) and print what would run, then exit 0

Environment:
  LOCKSCOPE_DEMO_ETCD=http://host:2379     use this etcd instead of starting one
  LOCKSCOPE_DEMO_REDIS=redis://host:6379/0 use this Redis instead of starting one
  LOCKSCOPE_DEMO_DIR=path                  state folder (default .lockscope/demo)
  LOCKSCOPE_DEMO_NO_INSTALL=1              never install system packages; print the commands instead
  LOCKSCOPE_DEMO_EXIT_AFTER_READY=N        stop everything N seconds after it is ready (smoke tests)
  LOCKSCOPE_DEMO_SKIP_BUILD=1              use the existing build outputs (tests that built already)`;

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = argv.filter((a) => a !== '--check');
if (unknown.length > 0) {
  console.error(`demo: unknown argument ${unknown[0]}\n\n${USAGE}`);
  process.exit(2);
}
const checkOnly = argv.includes('--check');
const env = process.env;
const demoDir = resolve(root, env.LOCKSCOPE_DEMO_DIR || '.lockscope/demo');
const logDir = join(demoDir, 'logs');
const statePath = join(demoDir, 'state.json');
const configPath = join(demoDir, 'lockscope.yaml');
const exitAfterReady = env.LOCKSCOPE_DEMO_EXIT_AFTER_READY ? Number(env.LOCKSCOPE_DEMO_EXIT_AFTER_READY) : null;

const TOTAL_STEPS = checkOnly ? 6 : 8;
let stepNo = 0;
let stepStarted = 0;
function step(text) {
  stepNo++;
  stepStarted = performance.now();
  console.log(`[${stepNo}/${TOTAL_STEPS}] ${text}`);
}
function stepDone(text = 'done') {
  console.log(`      ${text} (${((performance.now() - stepStarted) / 1000).toFixed(1)}s)`);
}

class DemoError extends Error {}
function fail(message) {
  throw new DemoError(message);
}

// ---------------------------------------------------------------- processes

/** Every long-running process we started, in start order; stopped in reverse. */
const started = [];
let shuttingDown = null;
/** The running `npm run build`, stopped too if the demo is told to stop meanwhile. */
let buildChild = null;

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch (error) {
    // EPERM: it exists but is not ours; /proc missing (not Linux): trust kill(0).
    return error.code === 'EPERM' || (error.code === 'ENOENT' && !existsSync('/proc/self'));
  }
}

/**
 * Spawns a process in its own process group (so a stop reaches its children
 * too), logging to .lockscope/demo/logs/<name>.log.
 */
function startProcess(name, command, args, { cwd = root, extraEnv = {}, onLine, portRetry = false } = {}) {
  // Once stopping has begun nothing new may start: it would outlive the stop.
  if (shuttingDown) throw new DemoError(`not starting ${name}: the demo is stopping`);
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(command, args, {
    cwd,
    env: childEnv(extraEnv),
    detached: true,
    stdio: ['ignore', onLine ? 'pipe' : fd, fd],
  });
  closeSync(fd);
  const proc = { name, child, pid: child.pid, logFile, exited: false, code: null, startedAt: performance.now() };
  proc.exit = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      proc.exited = true;
      proc.code = code ?? signal;
      resolveExit();
    });
    child.once('error', (error) => {
      proc.exited = true;
      proc.code = error.message;
      resolveExit();
    });
  });
  if (onLine && child.stdout) {
    let buf = '';
    const out = openSync(logFile, 'a');
    child.stdout.on('data', (chunk) => {
      writeFileSync(out, chunk);
      buf += chunk.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.stdout.once('close', () => closeSync(out));
  }
  started.push(proc);
  saveState();
  child.once('exit', () => {
    // A port taken between choosing it and binding it: the caller retries on another one.
    if (portRetry && /EADDRINUSE/.test(safeRead(logFile))) return;
    if (!shuttingDown && !checkOnly) {
      console.error(`\ndemo: ${name} exited unexpectedly (${proc.code}). Last lines of ${logFile}:\n${tail(logFile)}`);
      void shutdown(1);
    }
  });
  return proc;
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  ${l}`).join('\n');
  } catch {
    return '  (no log)';
  }
}

async function stopProcess(proc, graceMs) {
  if (proc.exited) return;
  const signalGroup = (signal) => {
    try {
      process.kill(-proc.pid, signal);
    } catch {
      try {
        process.kill(proc.pid, signal);
      } catch {
        // already gone
      }
    }
  };
  signalGroup('SIGTERM');
  let timer;
  await Promise.race([proc.exit, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  // Whatever is left in its group (workers of next start, say) goes too.
  signalGroup('SIGKILL');
  await proc.exit;
}

async function shutdown(code) {
  if (shuttingDown) return shuttingDown;
  shuttingDown = (async () => {
    if (buildChild && buildChild.exitCode === null && buildChild.signalCode === null) {
      buildChild.kill('SIGTERM');
      await new Promise((r) => buildChild.once('exit', r));
    }
    if (started.some((p) => !p.exited)) console.log('\ndemo: stopping everything it started ...');
    // Reverse order: the simulator releases its locks while the collector still watches,
    // the collector flushes before the store's readers and the backends go away.
    for (const proc of [...started].reverse()) {
      const wasRunning = !proc.exited;
      await stopProcess(proc, proc.name === 'etcd' || proc.name === 'redis' ? 3_000 : 7_000);
      if (wasRunning) console.log(`      stopped ${proc.name} (pid ${proc.pid})`);
    }
    clearState();
    process.exit(code);
  })();
  return shuttingDown;
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGHUP', () => void shutdown(0));

// ------------------------------------------------------------------- state

function readState() {
  try {
    return JSON.parse(readFileSync(statePath, 'utf8'));
  } catch {
    return {};
  }
}

let ports = {};
function saveState() {
  mkdirSync(demoDir, { recursive: true });
  writeFileSync(statePath, `${JSON.stringify({ demoPid: process.pid, ports, pids: started.filter((p) => !p.exited).map((p) => ({ name: p.name, pid: p.pid })) }, null, 2)}\n`);
}

function clearState() {
  try {
    writeFileSync(statePath, `${JSON.stringify({ demoPid: null, ports, pids: [] }, null, 2)}\n`);
  } catch {
    // the folder may be gone; nothing to record
  }
}

/**
 * A demo killed with SIGKILL cannot stop its children; the next run finds
 * them through state.json and stops them, so a second run never fights the
 * first over ports or the etcd data directory. A demo still running is left
 * alone and named.
 */
async function reapLeftovers() {
  const state = readState();
  if (state.demoPid && state.demoPid !== process.pid && isAlive(state.demoPid)) {
    const cmd = safeRead(`/proc/${state.demoPid}/cmdline`).replace(/\0/g, ' ');
    if (cmd === '' || cmd.includes('demo.mjs')) {
      fail(`another demo is already running (pid ${state.demoPid}) with its state in ${demoDir}.\nStop it with Ctrl-C in its terminal (or: kill ${state.demoPid}), then run npm run demo again.`);
    }
  }
  for (const { name, pid } of state.pids ?? []) {
    if (!isAlive(pid)) continue;
    const environ = safeRead(`/proc/${pid}/environ`);
    // Only processes we started carry our marker; a recycled pid is someone else's.
    if (!environ.includes(`LOCKSCOPE_DEMO_STATE=${demoDir}\0`)) continue;
    console.log(`      stopping ${name} (pid ${pid}) left over from an earlier demo`);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  }
  ports = state.ports ?? {};
}

function safeRead(path) {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The demo's environment plus `extra`; an undefined value removes that variable. */
function childEnv(extra) {
  const out = { ...env, ...extra };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

function run(command, args, { quiet = false, extraEnv = {} } = {}) {
  const r = spawnSync(command, args, { cwd: root, env: childEnv(extraEnv), stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (r.error) fail(`${command} ${args.join(' ')} could not start: ${r.error.message}`);
  return r;
}

function portFree(port) {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A free loopback port: `preferred` (dashboard 3000) or the one used last time
 * (etcd keeps its peer URL in its data directory), else any free one.
 */
async function pickPort(key, preferred, { lastFirst = true } = {}) {
  const taken = new Set(Object.entries(ports).filter(([k]) => k !== key).map(([, v]) => v));
  for (const candidate of lastFirst ? [ports[key], preferred] : [preferred, ports[key]]) {
    if (candidate && !taken.has(candidate) && (await portFree(candidate))) return (ports[key] = candidate);
  }
  for (;;) {
    const p = await freePort();
    if (!taken.has(p)) return (ports[key] = p);
  }
}

async function waitUntil(what, probe, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (shuttingDown) throw new DemoError('stopping');
    if (proc?.exited) fail(`${proc.name} exited (${proc.code}) before ${what}. Last lines of ${proc.logFile}:\n${tail(proc.logFile)}`);
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000}s waiting for ${what}${proc ? `. Last lines of ${proc.logFile}:\n${tail(proc.logFile)}` : ''}`);
    await sleep(200);
  }
}

async function httpOk(url, accept = (s) => s < 500) {
  const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await r.arrayBuffer();
  return accept(r.status) ? r.status : false;
}

function redisPing(url) {
  const u = new URL(url);
  return new Promise((resolvePing) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.once('connect', () => {
      const auth = u.password ? `AUTH ${decodeURIComponent(u.password)}\r\n` : '';
      socket.write(u.password ? `${auth}PING\r\n` : 'PING\r\n');
    });
  });
}

// -------------------------------------------------------------------- steps

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js 20.19 or newer is needed (this is ${process.versions.node}).`);
}

function missingMessage(packages) {
  const list = packages.join(' ');
  return [
    `The demo needs ${packages.map((p) => (p === 'etcd-server' ? 'etcd' : p)).join(' and ')}, which ${packages.length > 1 ? 'are' : 'is'} not on PATH, and will not install system packages here.`,
    '',
    'Install them (Debian/Ubuntu), then run `npm run demo` again:',
    '',
    `  sudo apt-get update && sudo apt-get install ${list}`,
    '',
    'Or run the whole stack in containers instead (Docker with the compose plugin):',
    '',
    '  docker compose up --build',
    '',
    'Or point the demo at servers you already run:',
    '',
    '  LOCKSCOPE_DEMO_ETCD=http://127.0.0.1:2379 LOCKSCOPE_DEMO_REDIS=redis://127.0.0.1:6379/0 npm run demo',
  ].join('\n');
}

/** etcd and redis-server: present, installed from Debian packages when allowed, or a stop with the commands. */
function ensureBinaries() {
  const need = [];
  if (!env.LOCKSCOPE_DEMO_ETCD && !onPath('etcd')) need.push('etcd-server');
  if (!env.LOCKSCOPE_DEMO_REDIS && !onPath('redis-server')) need.push('redis-server');
  if (need.length === 0) {
    const found = [env.LOCKSCOPE_DEMO_ETCD ? `etcd at ${env.LOCKSCOPE_DEMO_ETCD}` : onPath('etcd'), env.LOCKSCOPE_DEMO_REDIS ? `Redis at ${env.LOCKSCOPE_DEMO_REDIS}` : onPath('redis-server')];
    return stepDone(`using ${found.join(' and ')}`);
  }
  const noInstall = env.LOCKSCOPE_DEMO_NO_INSTALL === '1' || env.LOCKSCOPE_DEMO_NO_INSTALL === 'true';
  const prefix = noInstall ? null : aptPrefix(env);
  if (prefix === null) fail(missingMessage(need));
  console.log(`      installing ${need.join(' ')} with ${prefix.length ? 'sudo ' : ''}apt-get`);
  const failed = aptInstall(need, prefix, env);
  if (failed) fail(`${failed}.\n\n${missingMessage(need)}`);
  for (const [bin, pkg] of [['etcd', 'etcd-server'], ['redis-server', 'redis-server']]) {
    if (need.includes(pkg) && !onPath(bin)) fail(`${pkg} was installed but ${bin} is still not on PATH (${env.PATH}).`);
  }
  stepDone(`installed ${need.join(' ')}`);
}

function ensureDependencies() {
  if (existsSync(join(root, 'node_modules'))) return stepDone('node_modules present');
  if (!onPath('npm')) fail('npm is not on PATH; install Node.js 20.19+ with npm.');
  // npm ci, as .ci/run and the Dockerfile do: exactly the versions package-lock.json pins.
  if (run('npm', ['ci', '--no-audit', '--no-fund']).status !== 0) fail('npm ci failed (see above).');
  stepDone('installed with npm ci (versions from package-lock.json)');
}

const BUILT = ['apps/collector/dist/main.js', 'apps/simulator/dist/main.js', 'apps/cli/dist/index.js', 'apps/dashboard/.next/BUILD_ID'];

function build() {
  if (env.LOCKSCOPE_DEMO_SKIP_BUILD === '1') {
    const missing = BUILT.filter((f) => !existsSync(join(root, f)));
    if (missing.length > 0) fail(`LOCKSCOPE_DEMO_SKIP_BUILD=1 but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing; run npm run build first.`);
    return stepDone('skipped (LOCKSCOPE_DEMO_SKIP_BUILD=1); build outputs present');
  }
  // Output goes to a log; a line every 15 s shows it is still working (the first build takes a minute or two).
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, 'build.log');
  const fd = openSync(logFile, 'w');
  const child = spawn('npm', ['run', 'build'], { cwd: root, env: childEnv({}), stdio: ['ignore', fd, fd] });
  closeSync(fd);
  buildChild = child;
  const ticker = setInterval(() => console.log(`      still building ... ${Math.round((performance.now() - stepStarted) / 1000)}s (log: ${logFile})`), 15_000);
  return new Promise((resolveBuild, rejectBuild) => {
    const finish = (code) => {
      clearInterval(ticker);
      if (code === 0) {
        stepDone();
        resolveBuild();
      } else rejectBuild(new DemoError(`npm run build failed (${code}). Last lines of ${logFile}:\n${tail(logFile, 40)}`));
    };
    child.once('exit', (code, signal) => finish(code ?? signal));
    child.once('error', (error) => finish(error.message));
  });
}

async function startBackends() {
  let etcdUrl = env.LOCKSCOPE_DEMO_ETCD;
  let redisUrl = env.LOCKSCOPE_DEMO_REDIS;
  if (etcdUrl) {
    await waitUntil(`etcd at ${etcdUrl} (LOCKSCOPE_DEMO_ETCD)`, () => httpOk(`${etcdUrl.replace(/\/$/, '')}/health`, (s) => s === 200), 10_000);
  } else {
    const client = await pickPort('etcdClient', 2379);
    const peer = await pickPort('etcdPeer', 2380);
    const dataDir = join(demoDir, 'etcd');
    // etcd remembers its peer URL in the data directory; a changed port would not match it.
    const marker = join(demoDir, 'etcd-peer-port');
    if (safeRead(marker).trim() !== String(peer)) rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(demoDir, { recursive: true });
    writeFileSync(marker, `${peer}\n`);
    etcdUrl = `http://127.0.0.1:${client}`;
    const proc = startProcess('etcd', onPath('etcd'), [
      '--name', 'lockscope-demo',
      '--data-dir', dataDir,
      '--listen-client-urls', etcdUrl,
      '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `lockscope-demo=http://127.0.0.1:${peer}`,
      '--log-level', 'warn',
    ]);
    await waitUntil(`etcd on ${etcdUrl}`, () => httpOk(`${etcdUrl}/health`, (s) => s === 200), 30_000, proc);
  }
  if (redisUrl) {
    await waitUntil(`Redis at ${redisUrl} (LOCKSCOPE_DEMO_REDIS)`, () => redisPing(redisUrl), 10_000);
  } else {
    const port = await pickPort('redis', 6379);
    const dir = join(demoDir, 'redis');
    mkdirSync(dir, { recursive: true });
    redisUrl = `redis://127.0.0.1:${port}/0`;
    const proc = startProcess('redis', onPath('redis-server'), [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      '--notify-keyspace-events', 'Kg$hlzxe',
    ]);
    await waitUntil(`redis-server on port ${port}`, () => redisPing(redisUrl), 15_000, proc);
  }
  saveState();
  return { etcdUrl, redisUrl };
}

/** --check: configured servers must answer; local binaries must run. Nothing is left running. */
async function checkBackends() {
  const seen = [];
  let etcdUrl = env.LOCKSCOPE_DEMO_ETCD;
  let redisUrl = env.LOCKSCOPE_DEMO_REDIS;
  const version = (bin) => {
    const r = spawnSync(onPath(bin), ['--version'], { encoding: 'utf8' });
    if (r.status !== 0) fail(`${bin} --version failed: ${(r.stderr || r.error?.message || '').trim()}`);
    const first = r.stdout.split('\n')[0].trim();
    return /^Redis server v=\S+/.exec(first)?.[0].replace('Redis server v=', 'redis-server ') ?? first.replace(/^etcd Version: /, 'etcd ');
  };
  if (etcdUrl) {
    await waitUntil(`etcd at ${etcdUrl} (LOCKSCOPE_DEMO_ETCD)`, () => httpOk(`${etcdUrl.replace(/\/$/, '')}/health`, (s) => s === 200), 10_000);
    seen.push(`etcd ${etcdUrl} answers`);
  } else {
    etcdUrl = `http://127.0.0.1:${await pickPort('etcdClient', 2379)}`;
    await pickPort('etcdPeer', 2380);
    seen.push(version('etcd'));
  }
  if (redisUrl) {
    await waitUntil(`Redis at ${redisUrl} (LOCKSCOPE_DEMO_REDIS)`, () => redisPing(redisUrl), 10_000);
    seen.push(`Redis ${redisUrl} answers`);
  } else {
    redisUrl = `redis://127.0.0.1:${await pickPort('redis', 6379)}/0`;
    seen.push(version('redis-server'));
  }
  stepDone(seen.join('; '));
  return { etcdUrl, redisUrl };
}

/**
 * Starts a server on `port`; if another program took the port after it was
 * chosen (EADDRINUSE), tries fresh free ports. A server already on the port
 * may answer the probe for a moment before ours fails, so ours must also
 * still be running a little after it started.
 */
async function startOnPort(name, key, port, start, probe, timeoutMs) {
  for (let attempt = 1; ; attempt++) {
    const proc = start(port);
    try {
      await waitUntil(`the ${name} on port ${port}`, async () => (await probe(port)) && performance.now() - proc.startedAt > 1_500 && !proc.exited, timeoutMs, proc);
      return port;
    } catch (error) {
      if (attempt >= 3 || shuttingDown || !/EADDRINUSE/.test(safeRead(proc.logFile))) throw error;
      await proc.exit;
      started.splice(started.indexOf(proc), 1);
      delete ports[key];
      port = await pickPort(key, null);
      console.log(`      another program took that port; trying ${port}`);
    }
  }
}

function writeConfig({ etcdUrl, redisUrl, collectorListen, dashboardPort }) {
  const q = (s) => JSON.stringify(s);
  const yaml = `# Written by npm run demo; rewritten on every run.
store: { url: ${q(`file:${join(demoDir, 'lockscope.db')}`)} }
sources:
  - { name: etcd-demo, kind: etcd, endpoints: [${q(etcdUrl)}], prefixes: ["/locks/"] }
  - { name: redis-demo, kind: redis, url: ${q(redisUrl)}, patterns: ["lock:*"] }
alerts: { nearExpiryRatio: 0.8, slowAcquisitionP95Ms: 50, webhooks: [] }
collector: { listen: ${q(collectorListen)} }
dashboard: { host: "127.0.0.1", port: ${dashboardPort} }
`;
  mkdirSync(demoDir, { recursive: true });
  writeFileSync(configPath, yaml);
}

function migrate() {
  const r = run('npm', ['run', 'db:migrate'], { quiet: true, extraEnv: { LOCKSCOPE_CONFIG: configPath, DATABASE_URL: undefined } });
  if (r.status !== 0) fail(`migrating the SQLite store failed:\n${`${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n')}`);
  const line = (r.stdout ?? '').split('\n').find((l) => /up to date|Applied \d+/.test(l));
  stepDone(line ? line.trim() : 'migrated');
}

const nextBin = () => join(root, 'node_modules/next/dist/bin/next');
// The collector takes fencing reports only with a token; the demo makes one per run and
// gives it to the collector and the simulator (never to the dashboard, never printed).
const fencingEnv = { LOCKSCOPE_FENCING_TOKEN: randomBytes(24).toString('hex') };
// The demo's own config, whatever DATABASE_URL the shell has.
const ourEnv = () => ({ LOCKSCOPE_DEMO_STATE: demoDir, LOCKSCOPE_CONFIG: configPath, DATABASE_URL: undefined, NEXT_TELEMETRY_DISABLED: '1' });

function commands({ etcdUrl, redisUrl, collectorListen, dashboardPort }) {
  return {
    collector: [process.execPath, [join(root, 'apps/collector/bin/lockscope-collector.js'), '--config', configPath, '--listen', collectorListen]],
    dashboard: [process.execPath, [nextBin(), 'start', '-H', '127.0.0.1', '-p', String(dashboardPort)], join(root, 'apps/dashboard')],
    simulator: [process.execPath, [join(root, 'apps/simulator/bin/lockscope-simulator.js'), '--profile', 'demo', '--etcd', etcdUrl, '--redis', redisUrl]],
  };
}

function lockctlHints() {
  const lockctl = `node apps/cli/bin/lockctl.js`;
  const cfg = `--config ${JSON.stringify(configPath).slice(1, -1)}`;
  return [
    `  ${lockctl} ls ${cfg}`,
    `  ${lockctl} ls ${cfg} --json`,
    `  ${lockctl} release /locks/cron-leader --source etcd-demo --reason "demo" ${cfg}`,
  ].join('\n');
}

// --------------------------------------------------------------------- main

async function main() {
  // The marker lets a later run recognise leftovers of this one.
  env.LOCKSCOPE_DEMO_STATE = demoDir;
  mkdirSync(demoDir, { recursive: true });
  console.log(`Lockscope demo${checkOnly ? ' (--check)' : ''}: state in ${demoDir}`);

  step('Checking Node.js, etcd and redis-server');
  checkNode();
  await reapLeftovers();
  ensureBinaries();

  step('npm dependencies');
  ensureDependencies();

  step('Building (npm run build)');
  await build();

  step(checkOnly ? 'Choosing ports and checking etcd and Redis' : 'Starting etcd and Redis');
  const collectorPort = await pickPort('collector', 9464, { lastFirst: false });
  const dashboardPort = await pickPort('dashboard', 3000, { lastFirst: false });
  const collectorListen = `127.0.0.1:${collectorPort}`;
  let backends;
  if (checkOnly) {
    backends = await checkBackends();
  } else {
    backends = await startBackends();
    stepDone(`etcd ${backends.etcdUrl}, Redis ${backends.redisUrl}`);
  }
  const plan = { ...backends, collectorListen, dashboardPort };

  step('Writing the config and migrating the SQLite store');
  writeConfig(plan);
  console.log(`      ${configPath}`);
  migrate();

  const cmds = commands(plan);
  if (checkOnly) {
    step('Would run');
    const show = ([cmd, args, cwd]) => `  ${cwd ? `(cd ${cwd} && ` : ''}${[cmd, ...args].join(' ')}${cwd ? ')' : ''}`;
    if (!env.LOCKSCOPE_DEMO_ETCD) console.log(`  etcd --data-dir ${join(demoDir, 'etcd')} --listen-client-urls ${plan.etcdUrl} ...`);
    if (!env.LOCKSCOPE_DEMO_REDIS) console.log(`  redis-server --port ${new URL(plan.redisUrl).port} --bind 127.0.0.1 --notify-keyspace-events Kg$hlzxe --dir ${join(demoDir, 'redis')}`);
    console.log(`${show(cmds.collector)}\n${show(cmds.dashboard)}\n${show(cmds.simulator)}`);
    console.log(`\nDashboard would be at http://127.0.0.1:${dashboardPort}\nCheck passed.`);
    clearState();
    return;
  }

  step('Starting the collector');
  const collectorAt = await startOnPort('collector', 'collector', collectorPort, (port) => {
    const [cmd, args] = commands({ ...plan, collectorListen: `127.0.0.1:${port}` }).collector;
    return startProcess('collector', cmd, args, { extraEnv: { ...ourEnv(), ...fencingEnv }, portRetry: true });
  }, (port) => httpOk(`http://127.0.0.1:${port}/healthz`, () => true), 30_000);
  const healthz = `http://127.0.0.1:${collectorAt}/healthz`;
  stepDone(healthz);

  step('Starting the dashboard');
  const dashboardAt = await startOnPort('dashboard', 'dashboard', dashboardPort, (port) => {
    const [cmd, args, cwd] = commands({ ...plan, dashboardPort: port }).dashboard;
    return startProcess('dashboard', cmd, args, { cwd, extraEnv: { ...ourEnv(), PORT: String(port) }, portRetry: true });
  }, (port) => httpOk(`http://127.0.0.1:${port}`), 90_000);
  const dashboardUrl = `http://127.0.0.1:${dashboardAt}`;
  stepDone(dashboardUrl);

  step('Starting the simulated lock fleet (profile demo)');
  const interesting = /^(fencing|stall|crash|slow-dependency|leader|error):/;
  // The fenced resources report the tokens they check, so stale writes show as hazards (lockctl doctor).
  const simulator = startProcess('simulator', cmds.simulator[0], [...cmds.simulator[1], '--report-fencing', `http://127.0.0.1:${collectorAt}`], {
    extraEnv: { ...ourEnv(), ...fencingEnv },
    onLine: (line) => {
      if (interesting.test(line) && !shuttingDown) console.log(`  sim | ${line}`);
    },
  });
  await waitUntil('the simulator to start', () => /simulator: profile/.test(safeRead(simulator.logFile)), 20_000, simulator);
  stepDone();

  console.log(`
Lockscope demo is running.

  Dashboard:   ${dashboardUrl}
  Collector:   ${healthz}  (metrics: http://127.0.0.1:${collectorAt}/metrics)
  Logs:        ${logDir}

Try lockctl (from the repository root):
${lockctlHints()}

Within a minute you should see: a cron leader, waiters on /locks/inventory/sku-0000,
a stalled payments worker whose stale write is refused (fencing), a crashed report
worker whose lease expires, and slow acquisitions on /locks/pricing.

Press Ctrl-C to stop everything.
`);
  if (exitAfterReady !== null && Number.isFinite(exitAfterReady)) {
    setTimeout(() => void shutdown(0), Math.max(0, exitAfterReady) * 1000).unref();
  }
  // Keep running until a signal: the children's exit handlers and shutdown() end the process.
  setInterval(() => undefined, 1 << 30);
}

main().catch((error) => {
  if (shuttingDown) return;
  if (error instanceof DemoError) console.error(`\ndemo: ${error.message}`);
  else console.error(error);
  void shutdown(1);
});
