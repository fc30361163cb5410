// Test support (imported only by *.integration.test.ts): a real collector over
// real backends and a real SQLite or PostgreSQL store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type LockscopeConfig } from '@lockscope/core';
import { openStore, type Store } from '@lockscope/store';
import { Collector } from './collector.js';
import { createSource } from './create-source.js';

export interface CollectorStack {
  collector: Collector;
  store: Store;
  config: LockscopeConfig;
  logs: string[];
  /** Stops the collector and closes the store (the data stays until dispose). */
  stop(): Promise<void>;
  /** A new collector on the same store and config (a restart). */
  restart(): Promise<void>;
  dispose(): Promise<void>;
  /** Store reads by (source, lock name). */
  lock(source: string, name: string): Promise<Awaited<ReturnType<Store['prisma']['lock']['findFirst']>>>;
  holds(source: string, name: string): Promise<Awaited<ReturnType<Store['prisma']['hold']['findMany']>>>;
  events(source: string, name: string): Promise<Awaited<ReturnType<Store['prisma']['event']['findMany']>>>;
}

export interface StackOptions {
  etcd?: { endpoints: string[]; prefixes?: string[] };
  redis?: { url: string; patterns?: string[] };
  /** Store URL; default a fresh SQLite file. */
  storeUrl?: string;
  yaml?: string;
}

export async function startCollectorStack(options: StackOptions): Promise<CollectorStack> {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-collector-'));
  const sources: string[] = [];
  if (options.etcd) {
    sources.push(`  - { name: etcd-test, kind: etcd, endpoints: ${JSON.stringify(options.etcd.endpoints)}, prefixes: ${JSON.stringify(options.etcd.prefixes ?? ['/locks/'])} }`);
  }
  if (options.redis) {
    sources.push(`  - { name: redis-test, kind: redis, url: ${JSON.stringify(options.redis.url)}, patterns: ${JSON.stringify(options.redis.patterns ?? ['lock:*'])} }`);
  }
  const storeUrl = options.storeUrl ?? `file:${join(dir, 'lockscope.db')}`;
  const config = parseConfig(
    `store: { url: ${JSON.stringify(storeUrl)} }\nsources:\n${sources.join('\n') || '  []'}\ncollector: { listen: "127.0.0.1:0", flushInterval: 50ms }\n${options.yaml ?? ''}`,
    'test.yaml',
  );
  const logs: string[] = [];
  let store = await openStore({ url: storeUrl });
  await store.migrate();
  const make = () => new Collector({ config, store, createSource, log: (line) => logs.push(line), spillDir: join(dir, 'spill') });
  const stack: CollectorStack = {
    collector: make(),
    store,
    config,
    logs,
    async stop() {
      await stack.collector.stop();
      await store.close();
    },
    async restart() {
      store = await openStore({ url: storeUrl });
      stack.store = store;
      stack.collector = make();
      await stack.collector.start();
    },
    lock: (source, name) => stack.store.prisma.lock.findFirst({ where: { source, name } }),
    async holds(source, name) {
      const lock = await stack.lock(source, name);
      return lock ? stack.store.prisma.hold.findMany({ where: { lockId: lock.id }, orderBy: { acquiredAt: 'asc' } }) : [];
    },
    async events(source, name) {
      const lock = await stack.lock(source, name);
      return lock ? stack.store.prisma.event.findMany({ where: { lockId: lock.id }, orderBy: { id: 'asc' } }) : [];
    },
    async dispose() {
      await stack.collector.stop().catch(() => undefined);
      await store.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await stack.collector.start();
  return stack;
}

/**
 * SET key value NX PX ttl through redis-cli, returning Redis's own clock at the
 * SET (ms): the true acquisition time, to measure the collector against.
 */
export async function setNxPxAt(redis: { cli(args: string[]): Promise<string> }, key: string, value: string, ttlMs: number): Promise<number> {
  const script = "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end; return redis.call('TIME')";
  const out = (await redis.cli(['EVAL', script, '1', key, value, String(ttlMs)])).trim().split('\n');
  if (out.length !== 2) throw new Error(`SET NX on ${key} did not acquire: ${out.join(' ')}`);
  return Number(out[0]) * 1000 + Number(out[1]) / 1000;
}
