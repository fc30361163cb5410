import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, waitFor, type RedisServer } from '@lockscope/testing';
import { setNxPxAt, startCollectorStack, type CollectorStack } from './test-stack.js';

const CAD = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

describe('collector over a real Redis', () => {
  let redis: RedisServer;
  let stack: CollectorStack;

  beforeAll(async () => {
    redis = await startRedis();
    stack = await startCollectorStack({ redis: { url: redis.url } });
  });

  afterAll(async () => {
    await stack?.dispose();
    await redis?.stop();
  });

  const lockRow = (name: string) => stack.lock('redis-test', name);
  const lockHolds = (name: string) => stack.holds('redis-test', name);
  const lockEvents = (name: string) => stack.events('redis-test', name);

  it('SET NX PX 2000 never renewed: near-expiry between 1.6 s and 2.0 s after acquisition, then the hold ends as expired', async () => {
    const acquiredAt = await setNxPxAt(redis, 'lock:x', 'tok-1', 2000);
    const hold = await waitFor(async () => (await lockHolds('lock:x')).at(0), { timeoutMs: 6_000, message: 'the hold to end' });
    expect(hold.endReason).toBe('expired');
    expect(hold.holder).toBe('tok-1');
    // Redis does not say what PX was: the TTL is inferred from PTTL when the set is seen, a
    // lower bound that is exact unless the collector's event loop was busy at that moment.
    expect(hold.ttlMs).toBeGreaterThan(1500);
    expect(hold.ttlMs).toBeLessThanOrEqual(2000);
    expect(hold.nearExpiry).toBe(true);
    const events = await lockEvents('lock:x');
    const near = events.find((e) => e.type === 'near_expiry')!;
    // Measured from Redis's own clock at the SET: the true acquisition.
    const sinceAcquired = Number(near.at) - acquiredAt;
    // Redis keeps expiry in whole milliseconds (from its truncated clock): allow that 1 ms.
    expect(sinceAcquired).toBeGreaterThanOrEqual(1599);
    expect(sinceAcquired).toBeLessThanOrEqual(2000);
    expect(events.filter((e) => e.type === 'near_expiry')).toHaveLength(1);
    expect(events.at(-1)!.type).toBe('expired');
  });

  it('renewed by PEXPIRE every 500 ms: nothing fires; a Lua compare-and-delete ends it as released', async () => {
    expect((await redis.cli(['SET', 'lock:renewed', 'tok-2', 'NX', 'PX', '2000'])).trim()).toBe('OK');
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 500));
      expect((await redis.cli(['PEXPIRE', 'lock:renewed', '2000'])).trim()).toBe('1');
    }
    expect((await redis.cli(['EVAL', CAD, '1', 'lock:renewed', 'tok-2'])).trim()).toBe('1');
    const hold = await waitFor(async () => (await lockHolds('lock:renewed')).at(0), { message: 'the hold to end' });
    expect(hold.endReason).toBe('released');
    expect(hold.nearExpiry).toBe(false);
    expect(hold.renewals).toBeGreaterThanOrEqual(7);
    expect(hold.heldMs).toBeGreaterThan(4000);
    expect((await lockEvents('lock:renewed')).filter((e) => e.type === 'near_expiry')).toEqual([]);
  });

  it('recognises a Redisson hash lock and a fair-lock queue with two waiters', async () => {
    await redis.cli(['HSET', 'lock:r', '6f1c2b9e-1b7a-4d7e-9a53-0c7f1d2e3a4b:1', '1']);
    await redis.cli(['PEXPIRE', 'lock:r', '30000']);
    // HSET and PEXPIRE are two commands: wait for the state after both.
    const row = await waitFor(async () => {
      const r = await lockRow('lock:r');
      return r?.held && r.ttlMs !== null ? r : undefined;
    }, { message: 'the Redisson lock with its TTL' });
    expect(row.dialect).toBe('redisson');
    expect(row.holder).toBe('6f1c2b9e-1b7a-4d7e-9a53-0c7f1d2e3a4b:1');
    // Inferred from PTTL after the PEXPIRE: a lower bound, exact unless the collector was busy.
    expect(row.ttlMs).toBeLessThanOrEqual(30000);
    expect(row.ttlMs).toBeGreaterThan(29000);
    await redis.cli(['PEXPIRE', 'lock:r', '30000']);
    await waitFor(async () => (await lockEvents('lock:r')).some((e) => e.type === 'renewed'), { message: 'a visible watchdog renewal' });

    const owner = 'aaaaaaaa-0000-4000-8000-000000000001:7';
    const w1 = 'bbbbbbbb-0000-4000-8000-000000000002:8';
    const w2 = 'cccccccc-0000-4000-8000-000000000003:9';
    await redis.cli(['HSET', 'lock:fair', owner, '1']);
    await redis.cli(['PEXPIRE', 'lock:fair', '30000']);
    const deadline = Date.now() + 300_000;
    await redis.cli(['RPUSH', 'redisson_lock_queue:{lock:fair}', w1, w2]);
    await redis.cli(['ZADD', 'redisson_lock_timeout:{lock:fair}', String(deadline), w1, String(deadline + 5000), w2]);
    const fair = await waitFor(async () => {
      const r = await lockRow('lock:fair');
      return r && r.waiters === 2 ? r : undefined;
    }, { message: 'the fair lock with two waiters' });
    expect(fair.dialect).toBe('redisson-fair');
    expect(fair.holder).toBe(owner);
    expect(JSON.parse(fair.waiterQueue!).map((w: { holder: string }) => w.holder)).toEqual([w1, w2]);
  });

  it('records the source health, last event and ingest lag in the store', async () => {
    await redis.cli(['SET', 'lock:health', 'tok', 'PX', '60000']);
    await waitFor(async () => (await lockRow('lock:health'))?.held, { message: 'the lock' });
    await redis.cli(['PEXPIRE', 'lock:health', '60000']);
    const source = await waitFor(async () => {
      const row = await stack.store.prisma.source.findUnique({ where: { name: 'redis-test' } });
      return row?.ingestLagMs !== null && row?.ingestLagMs !== undefined ? row : undefined;
    }, { message: 'the source row with its ingest lag' });
    expect(source).toMatchObject({ kind: 'redis', connected: true, lastError: null });
    expect(source.ingestLagMs).toBeGreaterThanOrEqual(0);
    expect(source.ingestLagMs).toBeLessThan(5_000);
    expect(Number(source.lastEventAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('stores keys with odd bytes, control characters and a 1 MB value safely and keeps running', async () => {
    await redis.cli(['-x', 'SET', 'lock:\x1b[31mred\x07'], { stdin: 'v'.repeat(1024 * 1024) });
    // Bytes 0xff 0xfe are not UTF-8: the Lua script builds the key in Redis itself.
    await redis.cli(['EVAL', "return redis.call('SET', KEYS[1] .. string.char(255, 254), ARGV[1], 'PX', 60000)", '1', 'lock:bin', 'tok']);
    await waitFor(async () => (await lockRow('lock:\x1b[31mred\x07'))?.held, { message: 'the control-character lock' });
    const binary = await waitFor(async () => lockRow('lock:bin\\xff\\xfe'), { message: 'the non-UTF-8 lock, escaped' });
    expect(binary.rawKey).toBe(Buffer.from('lock:bin').toString('hex') + 'fffe');
    const bigHolder = (await lockRow('lock:\x1b[31mred\x07'))!.holder!;
    expect(bigHolder.length).toBeLessThan(5000);
    expect(stack.collector.health().store.ok).toBe(true);
    expect((await redis.cli(['SET', 'lock:after-odd', 't', 'NX', 'PX', '60000'])).trim()).toBe('OK');
    await waitFor(async () => (await lockRow('lock:after-odd'))?.held, { message: 'a normal lock after the odd ones' });
  });
});
