import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startChild, startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { SimEvent } from './context.js';
import { parseRefusalLine } from './fencing-resource.js';
import { parseSimulatorArgs } from './options.js';
import { Simulator } from './simulator.js';

const appDir = resolve(import.meta.dirname, '..');

async function withBackends(fn: (etcd: EtcdServer, redis: RedisServer, etcdClient: Etcd3, redisClient: Redis) => Promise<void>): Promise<void> {
  const etcd = await startEtcd();
  let redis: RedisServer | null = null;
  const etcdClient = new Etcd3({ hosts: etcd.endpoints });
  let redisClient: Redis | null = null;
  try {
    redis = await startRedis();
    redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    redisClient.on('error', () => undefined);
    await fn(etcd, redis, etcdClient, redisClient);
  } finally {
    redisClient?.disconnect();
    etcdClient.close();
    await redis?.stop();
    await etcd.stop();
  }
}

function bundleIsStale(): boolean {
  const dist = resolve(appDir, 'dist/main.js');
  if (!existsSync(dist)) return true;
  const built = statSync(dist).mtimeMs;
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  return newest(resolve(appDir, 'src')) > built;
}

function simulatorFor(etcd: EtcdServer, redis: RedisServer, argv: string[]) {
  const lines: string[] = [];
  const events: Array<SimEvent & { at: number }> = [];
  const options = parseSimulatorArgs(['--etcd', etcd.endpoints.join(','), '--redis', redis.url, '--seed', '11', ...argv])!;
  const sim = new Simulator(options, { out: (l) => lines.push(l), onEvent: (e) => events.push({ ...e, at: Date.now() }) });
  return { sim, lines, events };
}

async function keysUnder(client: Etcd3, prefix: string): Promise<Array<{ key: string; createRevision: bigint; lease: string; value: string }>> {
  const res = await client.getAll().prefix(prefix).exec();
  return res.kvs.map((kv) => ({ key: kv.key.toString(), createRevision: BigInt(kv.create_revision), lease: kv.lease, value: kv.value.toString() }));
}

describe('simulator against real etcd and Redis', () => {
  it('leaves each contention pattern’s trace: Go recipe keys with waiters, leader value, SET NX tokens, Redisson hashes and a fair queue', async () => {
    await withBackends(async (etcd, redis, etcdClient, redisClient) => {
      const { sim, events } = simulatorFor(etcd, redis, ['--prefix', 'c1', '--patterns', 'leader,inventory,redis-setnx,redisson,redisson-fair', '--locks', '2', '--rate', '4']);
      await sim.start();
      try {
        // The leader key is `<prefix>/<lease hex>` under that very lease, its value the candidate.
        const leader = await waitFor(async () => (await keysUnder(etcdClient, '/locks/c1/cron-leader/'))[0], { timeoutMs: 15_000, message: 'a cron leader key' });
        expect(leader.key).toBe(`/locks/c1/cron-leader/${BigInt(leader.lease).toString(16)}`);
        expect(leader.value).toMatch(/^scheduler-[abc]/);
        // Every candidate has a key; the lowest create_revision is the leader the simulator reported.
        const candidates = await waitFor(async () => {
          const keys = await keysUnder(etcdClient, '/locks/c1/cron-leader/');
          return keys.length === 3 ? keys : false;
        }, { timeoutMs: 15_000, message: 'three election candidates' });
        const lowest = candidates.reduce((a, b) => (a.createRevision < b.createRevision ? a : b));
        const won = events.find((e) => e.type === 'acquired' && e.pattern === 'leader');
        expect(won && won.type === 'acquired' ? won.token : null).toBe(lowest.createRevision.toString());

        // The hot SKU shows waiters: more than one contender key under its prefix at once.
        const hot = await waitFor(async () => {
          const keys = await keysUnder(etcdClient, '/locks/c1/inventory/sku-0000/');
          return keys.length >= 2 ? keys : false;
        }, { timeoutMs: 30_000, intervalMs: 10, message: 'waiters on the hot inventory lock' });
        for (const k of hot) expect(k.key).toBe(`/locks/c1/inventory/sku-0000/${BigInt(k.lease).toString(16)}`);
        await waitFor(() => events.some((e) => e.type === 'acquired' && e.pattern === 'inventory' && e.waited), { timeoutMs: 30_000, message: 'an inventory acquisition that had to wait' });

        // SET NX: a random token with a PX TTL.
        const job = await waitFor(async () => {
          for (const key of ['lock:c1:job:0000', 'lock:c1:job:0001']) {
            const [value, pttl] = await Promise.all([redisClient.get(key), redisClient.pttl(key)]);
            if (value !== null && pttl > 0) return { value, pttl };
          }
          return false;
        }, { timeoutMs: 15_000, message: 'a SET NX job lock' });
        expect(job.value).toMatch(/^[0-9a-f]{32}$/);
        expect(job.pttl).toBeLessThanOrEqual(10_000);

        // Redisson: hash field uuid:threadId = 1, 30 s lease.
        const orders = await waitFor(async () => {
          const h = await redisClient.hgetall('lock:c1:orders');
          return Object.keys(h).length > 0 ? h : false;
        }, { timeoutMs: 15_000, message: 'a Redisson lock hash' });
        const [field, count] = Object.entries(orders)[0]!;
        expect(field).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d+$/);
        expect(count).toBe('1');
        expect(await redisClient.pttl('lock:c1:orders')).toBeGreaterThan(20_000);

        // Fair lock: the queue LIST and the timeout ZSET name the same waiters, in order, with deadlines in the future.
        const queue = await waitFor(async () => {
          const q = await redisClient.lrange('redisson_lock_queue:{lock:c1:checkout}', 0, -1);
          return q.length >= 2 ? q : false;
        }, { timeoutMs: 20_000, intervalMs: 10, message: 'a fair-lock queue of two' });
        const scores = await redisClient.zrange('redisson_lock_timeout:{lock:c1:checkout}', '0', '-1', 'WITHSCORES');
        const waiting = new Set(scores.filter((_, i) => i % 2 === 0));
        expect(queue.some((w) => waiting.has(w))).toBe(true);
        expect(Math.max(...scores.filter((_, i) => i % 2 === 1).map(Number))).toBeGreaterThan(Date.now());
      } finally {
        await sim.stop();
      }
      // A clean stop leaves no lock behind and revokes every lease.
      expect(await keysUnder(etcdClient, '/locks/')).toEqual([]);
      expect((await etcdClient.leaseClient.leaseLeases({})).leases).toEqual([]);
      expect(await redisClient.keys('*c1*')).toEqual([]);
      expect(sim.stats().workerErrors).toBe(0);
    });
  }, 120_000);

  it('a stall past the lease lets a second holder in, and the stale worker’s write is refused by its fencing token; a crash ends its hold by expiry', async () => {
    await withBackends(async (etcd, redis, etcdClient, redisClient) => {
      const expired: string[] = [];
      const sub = new Redis(redis.url);
      sub.on('error', () => undefined);
      await sub.subscribe('__keyevent@0__:expired', '__keyevent@0__:del');
      const delByKey = new Map<string, number>();
      sub.on('message', (channel: string, key: string) => {
        if (channel.endsWith(':expired')) expired.push(key);
        else delByKey.set(key, (delByKey.get(key) ?? 0) + 1);
      });
      const deletes: Array<{ key: string; lease: string; createRevision: bigint; at: number }> = [];
      const watcher = await etcdClient.watch().prefix('/locks/s1/').withPreviousKV().create();
      watcher.on('delete', (_kv, prev) => {
        if (prev) deletes.push({ key: prev.key.toString(), lease: prev.lease, createRevision: BigInt(prev.create_revision), at: Date.now() });
      });
      const { sim, lines, events } = simulatorFor(etcd, redis, ['--prefix', 's1', '--patterns', 'stall,crash']);
      await sim.start();
      try {
        const refusals = await waitFor(() => {
          const r = lines.map(parseRefusalLine).filter((x) => x !== null);
          return r.length >= 2 ? r : false;
        }, { timeoutMs: 45_000, intervalMs: 100, message: 'two fencing refusals (etcd and Redis)' });

        const etcdRefusal = refusals.find((r) => r.resource === '/locks/s1/payments')!;
        const redisRefusal = refusals.find((r) => r.resource === 'lock:s1:ledger')!;
        expect(etcdRefusal.token).toBeLessThan(etcdRefusal.highest);
        expect(redisRefusal.token).toBeLessThan(redisRefusal.highest);

        // The stalled holder's key went with its lease (not deleted by it), and the next holder's key, the refusing
        // token, was created after: it is a create_revision etcd handed out, higher than the stale one.
        const staleKey = deletes.find((d) => d.createRevision === etcdRefusal.token);
        expect(staleKey?.key).toBe(`/locks/s1/payments/${BigInt(staleKey!.lease).toString(16)}`);
        const ttl = await etcdClient.leaseClient.leaseTimeToLive({ ID: staleKey!.lease });
        expect(Number(ttl.TTL)).toBe(-1);
        const stallStart = events.find((e) => e.type === 'stall' && e.lock === '/locks/s1/payments');
        expect(stallStart).toBeDefined();

        // Redis: the Redisson hash expired (no DEL), the token counter moved past the stale token.
        expect(expired).toContain('lock:s1:ledger');
        expect(BigInt((await redisClient.get('redisson_lock_token:{lock:s1:ledger}'))!)).toBeGreaterThanOrEqual(redisRefusal.highest);

        // The crash: etcd deleted the reports key when the lease lapsed; Redis expired the export key.
        const crashAt = await waitFor(() => events.find((e) => e.type === 'crash' && e.lock === '/locks/s1/reports')?.at, { timeoutMs: 30_000, message: 'the crash' });
        const gone = await waitFor(() => deletes.find((d) => d.key.startsWith('/locks/s1/reports/') && d.at >= crashAt), { timeoutMs: 15_000, message: 'the crashed holder’s key to go' });
        // A revoke would delete at once; a lapsed 5 s lease takes seconds after the last keepalive.
        expect(gone.at - crashAt).toBeGreaterThan(1_500);
        expect(Number((await etcdClient.leaseClient.leaseTimeToLive({ ID: gone.lease })).TTL)).toBe(-1);
        await waitFor(() => expired.includes('lock:s1:export'), { timeoutMs: 15_000, message: 'the export lock to expire' });
        expect(lines.some((l) => l.startsWith('crash: report-worker-1 died holding /locks/s1/reports'))).toBe(true);
      } finally {
        await watcher.cancel();
        sub.disconnect();
        await sim.stop();
      }
      expect(await keysUnder(etcdClient, '/locks/')).toEqual([]);
    });
  }, 120_000);

  it('slow dependency: waits on the pricing lock exceed 50 ms at P95 during the window and not before', async () => {
    await withBackends(async (etcd, redis) => {
      const { sim, events } = simulatorFor(etcd, redis, ['--prefix', 'p1', '--patterns', 'slow-dependency']);
      const windowStart = sim.plan.slow.windows!.starts.at(0);
      await sim.start();
      const t0 = Date.now();
      const waits: Array<{ at: number; ms: number }> = [];
      const collect = setInterval(() => {
        while (events.length) {
          const e = events.shift()!;
          if (e.type === 'acquired') waits.push({ at: Date.now() - t0, ms: e.waitedMs });
        }
      }, 20);
      try {
        await waitFor(() => waits.filter((w) => w.at > windowStart + 1_000).length >= 40, { timeoutMs: 40_000, intervalMs: 100, message: '40 acquisitions inside the slow window' });
      } finally {
        clearInterval(collect);
        await sim.stop();
      }
      const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1]!;
      // The first second pays for connecting and granting leases; it is not the dependency's fault.
      const before = waits.filter((w) => w.at > 1_000 && w.at < windowStart - 500).map((w) => w.ms);
      const during = waits.filter((w) => w.at > windowStart + 1_000).map((w) => w.ms);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      expect(before.length).toBeGreaterThan(3);
      expect(p95(during)).toBeGreaterThan(50);
      // Before the window the typical acquisition is quick; one slow round trip on a loaded machine may not spoil it.
      expect(median(before)).toBeLessThan(25);
      expect(p95(during)).toBeGreaterThan(p95(before));
    });
  }, 90_000);

  it('the built binary stops on SIGINT within its deadline, releasing every lock and lease', async () => {
    // npm test builds first; rebuild only a stale bundle, so a binary another test is starting is never rewritten under it.
    if (bundleIsStale()) await promisify(execFile)(process.execPath, ['../../scripts/bundle.mjs', 'src/main.ts'], { cwd: appDir });
    await withBackends(async (etcd, redis, etcdClient, redisClient) => {
      const child = startChild(process.execPath, [resolve(appDir, 'bin/lockscope-simulator.js'), '--etcd', etcd.endpoints[0]!, '--redis', redis.url, '--seed', '3', '--patterns', 'leader,inventory,redisson,redis-setnx']);
      try {
        await waitFor(async () => (await keysUnder(etcdClient, '/locks/cron-leader/')).length > 0 && (await redisClient.exists('lock:orders')) === 1, { timeoutMs: 20_000, message: 'locks held by the binary' });
        const t = Date.now();
        child.kill('SIGINT');
        expect(await child.exited).toBe(0);
        expect(Date.now() - t).toBeLessThan(6_000);
        expect(child.output()).toMatch(/simulator: stopped after \d+ acquisitions/);
      } finally {
        await child.stop();
      }
      expect(await keysUnder(etcdClient, '/locks/')).toEqual([]);
      expect((await etcdClient.leaseClient.leaseLeases({})).leases).toEqual([]);
      expect(await redisClient.keys('lock:*')).toEqual([]);
      const clients = await redisClient.client('LIST');
      expect(String(clients)).not.toContain('lockscope-simulator');
    });
  }, 90_000);

  it('fails start with a clear error when a backend is not there', async () => {
    const options = parseSimulatorArgs(['--etcd', 'http://127.0.0.1:1', '--redis', 'redis://127.0.0.1:1/0'])!;
    const sim = new Simulator(options, { out: () => undefined });
    await expect(sim.start()).rejects.toThrow(/etcd is not reachable at http:\/\/127\.0\.0\.1:1/);
    await sim.stop();
  }, 30_000);
});
