import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { isLockscopeError, LISTEN_ADDRESS_HINT, loadConfig, LockscopeError, parseListenAddress } from '@lockscope/core';
import { openStore, storeLeftBehind } from '@lockscope/store';
import { Collector } from './collector.js';
import { createSource } from './create-source.js';
import { startHttpServer } from './http-server.js';

const HELP = `lockscope-collector: watches etcd and Redis lock keys and records holds, waiters and alerts.

Usage: lockscope-collector [--config lockscope.yaml] [--listen 127.0.0.1:9464] [--no-migrate]

  --config      config file (default: $LOCKSCOPE_CONFIG, then ./lockscope.yaml)
  --listen      host:port for /healthz and /metrics (default: collector.listen)
  --no-migrate  do not apply pending store migrations at start
  --help        this text

Environment: DATABASE_URL overrides store.url; a relative file: URL resolves beside the
config file (the working directory without one). SIGTERM/SIGINT flush and exit within 5 s.`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: { config: { type: 'string' }, listen: { type: 'string' }, 'no-migrate': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const { config, path, baseDir } = loadConfig({
    flag: args.values.config,
    env: { LOCKSCOPE_CONFIG: process.env.LOCKSCOPE_CONFIG, DATABASE_URL: process.env.DATABASE_URL },
    cwd: process.cwd(),
  });
  if (args.values.listen !== undefined) {
    if (parseListenAddress(args.values.listen) === null) throw new LockscopeError('BAD_CONFIG', `--listen takes a ${LISTEN_ADDRESS_HINT} (got ${JSON.stringify(args.values.listen.slice(0, 80))}).`);
    config.collector.listen = args.values.listen;
  }
  log(`collector: config ${path ?? '(defaults: no sources)'}; ${config.sources.length} source(s)`);

  const leftBehind = storeLeftBehind(config.store.url, baseDir, { dir: process.cwd(), name: 'the working directory' });
  if (leftBehind) log(`collector: warning: ${leftBehind}`);
  const store = await openStore({ url: config.store.url, cwd: baseDir });
  if (!args.values['no-migrate']) await store.migrate();
  const spillDir = resolve(baseDir, config.collector.spillDir);
  const collector = new Collector({ config, store, createSource, log, spillDir });
  const fencingToken = readFencingToken(process.env);
  const http = await startHttpServer(config.collector.listen, collector.metrics, () => collector.health(), {
    token: fencingToken,
    report: (body) => collector.fencingReport(body),
  });
  if (fencingToken === null) log('collector: fencing reports (POST /v1/fencing) are off: set LOCKSCOPE_FENCING_TOKEN or LOCKSCOPE_FENCING_TOKEN_FILE to take them');
  log(`collector: serving ${http.url}/healthz and ${http.url}/metrics`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`collector: ${signal} received, flushing and stopping`);
    const hardStop = setTimeout(() => {
      log('collector: did not stop within 5 s; exiting');
      process.exit(1);
    }, 5_000);
    hardStop.unref();
    await collector.stop(4_000);
    await http.close();
    await store.close();
    clearTimeout(hardStop);
    log('collector: stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await collector.start();
  log('collector: running');
  return -1;
}

/** The fencing reporters' shared secret, from the environment or a file (never from the config, never logged). */
function readFencingToken(env: NodeJS.ProcessEnv): string | null {
  let token: string;
  let from = 'LOCKSCOPE_FENCING_TOKEN';
  if (env.LOCKSCOPE_FENCING_TOKEN) {
    token = env.LOCKSCOPE_FENCING_TOKEN;
  } else {
    const file = env.LOCKSCOPE_FENCING_TOKEN_FILE;
    if (!file) return null;
    from = `the file ${JSON.stringify(file)}`;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new LockscopeError('BAD_CONFIG', `LOCKSCOPE_FENCING_TOKEN_FILE ${JSON.stringify(file)} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (token.length < 16) throw new LockscopeError('BAD_CONFIG', `the fencing token in ${from} is shorter than 16 characters; use a long random one`);
  return token;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (isLockscopeError(error)) {
      process.stderr.write(`lockscope-collector: ${error.message}\n`);
      process.exit(error.code === 'BAD_CONFIG' ? 2 : 1);
    }
    process.stderr.write(`lockscope-collector: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
