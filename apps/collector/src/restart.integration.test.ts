import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { setNxPxAt } from './test-stack.js';
import { startCollectorStack, type CollectorStack } from './test-stack.js';

describe('collector restart', () => {
  let etcd: EtcdServer;
  let redis: RedisServer;
  let stack: CollectorStack;

  beforeAll(async () => {
    [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
    stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints }, redis: { url: redis.url } });
  });

  afterAll(async () => {
    await stack?.dispose();
    await Promise.all([etcd?.stop(), redis?.stop()]);
  });

  it('replays every etcd hold made while it was down, without duplicates, and resyncs Redis', async () => {
    // Before the stop: one completed hold and one lock held across the restart.
    await etcd.etcdctl(['lock', '/locks/before', 'true']);
    await redis.cli(['SET', 'lock:across', 'tok-a', 'PX', '60000']);
    await redis.cli(['SET', 'lock:gone-while-down', 'tok-g', 'PX', '60000']);
    await waitFor(async () => (await stack.holds('etcd-test', '/locks/before')).length === 1, { message: 'the first etcd hold' });
    await waitFor(async () => (await stack.lock('redis-test', 'lock:gone-while-down'))?.held, { message: 'the Redis locks' });
    await stack.stop();

    // While the collector is down: three etcd holds on one lock, one on another; Redis changes.
    for (let i = 0; i < 3; i++) await etcd.etcdctl(['lock', '/locks/offline', 'true']);
    await etcd.etcdctl(['lock', '/locks/offline-2', 'true']);
    await redis.cli(['DEL', 'lock:gone-while-down']);
    await redis.cli(['SET', 'lock:new-while-down', 'tok-n', 'PX', '60000']);

    await stack.restart();
    const offline = await waitFor(async () => {
      const h = await stack.holds('etcd-test', '/locks/offline');
      return h.length >= 3 ? h : undefined;
    }, { timeoutMs: 15_000, message: 'the three holds made while down' });
    expect(offline).toHaveLength(3);
    const tokens = offline.map((h) => BigInt(h.token!));
    expect(new Set(tokens).size).toBe(3);
    expect(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!).toBe(true);
    expect(offline.every((h) => h.endReason === 'released')).toBe(true);
    expect(await stack.holds('etcd-test', '/locks/offline-2')).toHaveLength(1);
    expect(await stack.holds('etcd-test', '/locks/before')).toHaveLength(1);

    await waitFor(async () => (await stack.lock('redis-test', 'lock:new-while-down'))?.held, { message: 'the Redis lock made while down' });
    const gone = await waitFor(async () => (await stack.holds('redis-test', 'lock:gone-while-down')).at(0), { message: 'the Redis hold that ended while down' });
    expect(gone.endReason).toBe('unknown');
    const across = await stack.lock('redis-test', 'lock:across');
    expect(across?.held).toBe(true);
    expect(await stack.holds('redis-test', 'lock:across')).toHaveLength(0);

    // A second restart with nothing new adds nothing.
    await stack.stop();
    await stack.restart();
    await stack.collector.flushNow();
    expect(await stack.holds('etcd-test', '/locks/offline')).toHaveLength(3);
  });

  it('after a restart, a lock that existed before records every new hold at once (issue 13)', async () => {
    // Enough traffic before the stop that the old process's numbering is far ahead of a new one's.
    for (let i = 0; i < 40; i++) {
      await redis.cli(['SET', 'lock:renumbered', `old-${i}`, 'NX', 'PX', '60000']);
      await redis.cli(['DEL', 'lock:renumbered']);
    }
    await waitFor(async () => (await stack.holds('redis-test', 'lock:renumbered')).length === 40, { message: 'the 40 holds before the stop' });
    await stack.stop();
    await stack.restart();

    for (let i = 0; i < 10; i++) {
      await setNxPxAt(redis, 'lock:renumbered', `new-${i}`, 60_000);
      await redis.cli(['DEL', 'lock:renumbered']);
    }
    const started = Date.now();
    const after = await waitFor(async () => {
      const holds = (await stack.holds('redis-test', 'lock:renumbered')).filter((h) => h.holder?.startsWith('new-'));
      return holds.length === 10 ? holds : undefined;
    }, { timeoutMs: 2_000, message: 'the 10 holds after the restart, within 2 s' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(after.map((h) => h.holder)).toEqual(Array.from({ length: 10 }, (_, i) => `new-${i}`));
    expect(after.every((h) => h.endReason === 'released' && !h.approximate)).toBe(true);
  });

  it('a hold released while the collector was down, past its predicted expiry, ends unknown without a lease_expired alert', async () => {
    await redis.cli(['SET', 'lock:short-while-down', 'tok-s', 'PX', '1500']);
    await waitFor(async () => (await stack.lock('redis-test', 'lock:short-while-down'))?.held, { message: 'the short Redis lock held' });
    await stack.stop();
    await redis.cli(['DEL', 'lock:short-while-down']);
    // Let the predicted expiry pass while nobody watches.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await stack.restart();
    const ended = await waitFor(async () => (await stack.holds('redis-test', 'lock:short-while-down')).at(0), { message: 'the hold that ended while down' });
    expect(ended).toMatchObject({ holder: 'tok-s', endReason: 'unknown', approximate: true });
    await stack.collector.alerts.whenWritten();
    expect(await stack.store.prisma.alert.count({ where: { lockName: 'lock:short-while-down', rule: 'lease_expired' } })).toBe(0);
  });
});
