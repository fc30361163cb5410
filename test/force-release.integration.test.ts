// System test: `lockctl release` (the real binary) of locks a real collector is watching.
// The backend sees a plain delete; the collector learns from the audit record that it was a
// force-release, and the stored hold says so (issue 13).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLockctl } from '../apps/cli/src/run-lockctl.js';
import { startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { startCollectorStack, type CollectorStack } from '../apps/collector/src/test-stack.js';


/** The real lockctl binary, without the caller's LOCKSCOPE_CONFIG. */
const lockctl = (args: string[]) => runLockctl(args, { env: { ...process.env, LOCKSCOPE_CONFIG: '', LOCKSCOPE_ACTOR: 'oncall-ana' } });

describe('lockctl release of a watched lock', () => {
  let etcd: EtcdServer;
  let redis: RedisServer;
  let stack: CollectorStack;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    if (!existsSync(resolve(import.meta.dirname, '../apps/cli/dist/index.js'))) throw new Error('lockctl is not built: run `npm run build` (npm test builds first)');
    dir = mkdtempSync(join(tmpdir(), 'lockscope-force-'));
    [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
    const storeUrl = `file:${join(dir, 'store.db')}`;
    stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints }, redis: { url: redis.url }, storeUrl });
    config = join(dir, 'lockscope.yaml');
    writeFileSync(
      config,
      `store: { url: ${JSON.stringify(storeUrl)} }\nsources:\n  - { name: etcd-test, kind: etcd, endpoints: ${JSON.stringify(etcd.endpoints)}, prefixes: ["/locks/"] }\n  - { name: redis-test, kind: redis, url: ${JSON.stringify(redis.url)}, patterns: ["lock:*"] }\n`,
    );
  });

  afterAll(async () => {
    await stack?.dispose();
    await Promise.all([etcd?.stop(), redis?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a Redis lock released by lockctl is stored force_released; its holder\'s own release before it stays released', async () => {
    await redis.cli(['SET', 'lock:stuck', 'tok-own', 'PX', '60000']);
    await waitFor(async () => (await stack.lock('redis-test', 'lock:stuck'))?.held, { message: 'the first hold' });
    await redis.cli(['DEL', 'lock:stuck']);
    await redis.cli(['SET', 'lock:stuck', 'tok-stuck', 'PX', '60000']);
    await waitFor(async () => (await stack.lock('redis-test', 'lock:stuck'))?.holder === 'tok-stuck', { message: 'the stuck hold' });

    const run = await lockctl(['release', 'lock:stuck', '--source', 'redis-test', '--reason', 'stuck after deploy', '--yes', '--config', config]);
    expect(run.stderr).toContain('Released');
    expect(run.code).toBe(0);
    const holds = await waitFor(async () => {
      const h = await stack.holds('redis-test', 'lock:stuck');
      return h.length === 2 && h[1]!.endReason === 'force_released' ? h : undefined;
    }, { timeoutMs: 10_000, message: 'the released hold marked force_released' });
    expect(holds.map((h) => [h.holder, h.endReason])).toEqual([
      ['tok-own', 'released'],
      ['tok-stuck', 'force_released'],
    ]);
    const events = await stack.events('redis-test', 'lock:stuck');
    expect(events.filter((e) => e.type === 'force_released').map((e) => e.holder)).toEqual(['tok-stuck']);
  });

  it('an etcd mutex held by etcdctl lock, released by lockctl: force_released, and the waiter acquires', async () => {
    const holder = etcd.spawnEtcdctl(['lock', '/locks/nightly']);
    const waiter = etcd.spawnEtcdctl(['lock', '/locks/nightly']);
    try {
      await waitFor(async () => (await stack.lock('etcd-test', '/locks/nightly'))?.waiters === 1, { timeoutMs: 15_000, message: 'a holder and a waiter' });
      const run = await lockctl(['release', '/locks/nightly', '--source', 'etcd-test', '--reason', 'holder hung', '--yes', '--config', config]);
      expect(run.code).toBe(0);
      const holds = await waitFor(async () => {
        const h = await stack.holds('etcd-test', '/locks/nightly');
        return h.length === 1 && h[0]!.endReason === 'force_released' ? h : undefined;
      }, { timeoutMs: 10_000, message: 'the etcd hold marked force_released' });
      expect(holds).toHaveLength(1);
      // The waiter got the lock.
      await waitFor(async () => (await stack.lock('etcd-test', '/locks/nightly'))?.held && (await stack.lock('etcd-test', '/locks/nightly'))?.waiters === 0, { message: 'the waiter holding' });
    } finally {
      await Promise.all([holder.stop(), waiter.stop()]);
    }
  });
});
