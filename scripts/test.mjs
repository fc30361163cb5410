#!/usr/bin/env node
// `npm test`: from a fresh clone to every test run against real services. Installs
// what the tests need and is missing (Debian packages with apt-get when this user may,
// npm dependencies with npm ci), makes sure PostgreSQL answers, then builds,
// typechecks, lints and runs the unit, integration and browser test projects.
// Arguments after `--` go to vitest (`npm test -- --project unit`); `--setup-only`
// installs and checks what the tests need, then exits.
//
// Only node: built-ins here: this file runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { aptInstall, aptPrefix, missingPackages, onPath } from './system-packages.mjs';

const root = resolve(import.meta.dirname, '..');
const env = process.env;

/** What the test suites start or drive, and the Debian package that brings it. */
const SYSTEM_PACKAGES = [
  { pkg: 'etcd-server', bin: 'etcd' },
  { pkg: 'etcd-client', bin: 'etcdctl' },
  { pkg: 'redis-server', bin: 'redis-server' },
  { pkg: 'chromium', bin: 'chromium' },
  { pkg: 'python3-redis', python: 'redis' },
];

function fail(message) {
  console.error(`\nnpm test: ${message}`);
  process.exit(1);
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) fail(`${command} ${args.join(' ')} could not start: ${r.error.message}`);
  return r.status ?? 1;
}

function step(text) {
  console.log(`\n== ${text}`);
}

function pgAnswers(port = 5432) {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
    socket.once('timeout', () => (socket.destroy(), done(false)));
  });
}

async function ensurePostgres() {
  if (env.LOCKSCOPE_TEST_PG_URL) return console.log(`using LOCKSCOPE_TEST_PG_URL for PostgreSQL`);
  if (await pgAnswers()) return console.log('PostgreSQL answers on 127.0.0.1:5432');
  // The Debian cluster may just be stopped (as on a machine that was restarted).
  const clusters = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  if (clusters.length > 0 && onPath('pg_ctlcluster')) {
    console.log(`starting the local PostgreSQL cluster ${clusters[0]}/main`);
    run('pg_ctlcluster', ['--skip-systemctl-redirect', clusters[0], 'main', 'start']);
    for (let i = 0; i < 30; i++) {
      if (await pgAnswers()) return;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  fail(
    'the store tests also run on PostgreSQL, and nothing answers on 127.0.0.1:5432.\n' +
      'Install and start it (Debian: apt-get install postgresql, trust auth for 127.0.0.1), or set\n' +
      'LOCKSCOPE_TEST_PG_URL=postgresql://user@host:port/db to a server where the user may create databases.',
  );
}

async function main() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js 20.19 or newer is needed (this is ${process.versions.node}).`);

  step('system packages');
  const need = missingPackages(SYSTEM_PACKAGES, env);
  if (need.length === 0) {
    console.log(`present: ${SYSTEM_PACKAGES.map((p) => p.pkg).join(', ')}`);
  } else {
    const prefix = aptPrefix(env);
    if (prefix === null) {
      fail(`the tests need ${need.join(', ')}, and this user cannot install Debian packages.\nInstall them, then run npm test again:\n\n  sudo apt-get update && sudo apt-get install ${need.join(' ')}`);
    }
    console.log(`installing ${need.join(' ')} with ${prefix.length ? 'sudo ' : ''}apt-get (the tests start and drive them)`);
    const failed = aptInstall(need, prefix, env);
    if (failed) fail(`${failed}. The tests need: ${need.join(' ')}.`);
    const still = missingPackages(SYSTEM_PACKAGES, env);
    if (still.length > 0) fail(`${still.join(', ')} installed but still not found (PATH=${env.PATH}).`);
  }
  await ensurePostgres();

  const args = process.argv.slice(2);
  if (args.includes('--setup-only')) return console.log('\nsetup done (--setup-only): not building or testing');

  step('npm dependencies');
  if (existsSync(join(root, 'node_modules'))) {
    console.log('node_modules present');
  } else {
    console.log('installing with npm ci (the versions package-lock.json pins)');
    if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) fail('npm ci failed (see above).');
  }

  for (const [what, args] of [
    ['build', ['run', 'build']],
    ['typecheck', ['run', 'typecheck']],
    ['lint', ['run', 'lint']],
  ]) {
    step(what);
    if (run('npm', args) !== 0) fail(`${what} failed (see above).`);
  }
  step('tests (unit, integration, browser)');
  process.exit(run(join(root, 'node_modules/.bin/vitest'), ['run', ...args]));
}

await main();
