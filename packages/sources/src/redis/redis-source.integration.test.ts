import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { displayKey, isLockscopeError, type LockObservation, type RedisSourceConfig } from '@lockscope/core';
import { freePort, startRedis, waitFor, type RedisServer, type StartRedisOptions } from '@lockscope/testing';
import type { LockSource, ObservationSink } from '../source.js';
import { createRedisClient } from './redis-client.js';
import { createRedisSource } from './redis-source.js';

function config(url: string, overrides: Partial<RedisSourceConfig> = {}): RedisSourceConfig {
  return { name: 'redis-test', kind: 'redis', url, patterns: ['lock:*'], enableNotifications: true, ...overrides };
}

function collector() {
  const observations: LockObservation[] = [];
  const resyncs: Array<{ live: Set<string>; at: number }> = [];
  const sink: ObservationSink = {
    observe: (o) => observations.push(o),
    resynced: (_source, live, at) => resyncs.push({ live, at }),
  };
  const of = (name: string) => observations.filter((o) => displayKey(o.key) === name);
  return { observations, resyncs, sink, of };
}

/** Runs `fn` against a fresh redis-server and a source on it; both are torn down whatever happens. */
async function withSource(
  fn: (ctx: { redis: RedisServer; source: LockSource }) => Promise<void>,
  { redis: redisOptions, source: overrides }: { redis?: StartRedisOptions; source?: Partial<RedisSourceConfig> } = {},
): Promise<void> {
  const redis = await startRedis(redisOptions);
  const source = createRedisSource(config(redis.url, overrides));
  try {
    await fn({ redis, source });
  } finally {
    await source.stop();
    await redis.stop();
  }
}

/** How many times the source's fetch script ran (ioredis sends a defined command as EVALSHA). */
async function fetchCalls(redis: RedisServer): Promise<number> {
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.cli(['INFO', 'commandstats']))?.[1] ?? 0);
}

async function lockscopeClients(redis: RedisServer): Promise<string[]> {
  const list = await redis.cli(['CLIENT', 'LIST']);
  return list.split('\n').filter((line) => line.includes('name=lockscope:'));
}

const uuid = () => randomUUID();

/**
 * Redis never says what PX/PEXPIRE was: the source infers the grant from PTTL
 * read just after the event, exact unless this process was too busy to read it
 * promptly (CI on 2 cores). It is a lower bound, never above the real TTL.
 */
function expectInferredTtl(actual: number | null, granted: number): void {
  expect(actual).not.toBeNull();
  expect(actual!).toBeLessThanOrEqual(granted);
  expect(actual!).toBeGreaterThan(granted * 0.75);
}

describe('Redis source: SET NX PX locks', () => {
  it('sees a redis-cli SET NX PX with holder and TTL, then its expiry', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      expect(source.health()).toMatchObject({ connected: true, notifications: 'on', lastError: null });
      expect(source.health().version).toMatch(/^\d+\.\d+/);

      await redis.cli(['SET', 'lock:x', 'tok', 'NX', 'PX', '2000']);
      const held = await waitFor(() => c.of('lock:x').find((o) => o.hold !== null), { message: 'lock:x held' });
      expect(held.dialect).toBe('redis-string');
      expect(held.hold).toMatchObject({ holdId: 'tok', holder: 'tok', token: null });
      expectInferredTtl(held.hold!.ttlMs, 2000);
      expect(held.hold!.remainingMs).toBeGreaterThan(1500);
      expect(held.hold!.remainingMs).toBeLessThanOrEqual(2000);
      expect(held.waiters).toBeNull();

      const ended = await waitFor(() => c.of('lock:x').find((o) => o.hold === null), { timeoutMs: 10_000, message: 'lock:x expired' });
      expect(ended.endCause).toBe('expired');
      expect(ended.at - held.at).toBeGreaterThanOrEqual(1900);
      const seqs = c.of('lock:x').map((o) => o.seq);
      expect([...seqs].sort((a, b) => (a < b ? -1 : 1))).toEqual(seqs);
      expect(new Set(seqs).size).toBe(seqs.length);
    });
  });

  it('shows PEXPIRE renewals as an advancing renewedAt, and a Lua compare-and-delete as released', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      await redis.cli(['SET', 'lock:renew', 'tok-r', 'NX', 'PX', '2000']);
      await waitFor(() => c.of('lock:renew').some((o) => o.hold !== null));
      // Real time must pass between renewals: that is what is being observed.
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 500));
        await redis.cli(['PEXPIRE', 'lock:renew', '2000']);
      }
      const renewals = await waitFor(() => {
        const seen = c.of('lock:renew').filter((o) => o.hold !== null);
        return seen.length >= 5 ? seen : undefined;
      });
      const renewedAt = renewals.map((o) => o.hold!.renewedAt!);
      for (let i = 1; i < renewedAt.length; i++) expect(renewedAt[i]!).toBeGreaterThan(renewedAt[i - 1]!);
      expect(renewedAt.at(-1)! - renewedAt[0]!).toBeGreaterThanOrEqual(1800);
      for (const o of renewals) {
        expect(o.hold!.holdId).toBe('tok-r');
        expectInferredTtl(o.hold!.ttlMs, 2000);
      }
      // Renewals are not new holds: nothing ended.
      expect(renewals.every((o) => o.endCause === undefined)).toBe(true);

      const script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
      const fetchesBefore = await fetchCalls(redis);
      expect((await redis.cli(['EVAL', script, '1', 'lock:renew', 'tok-r'])).trim()).toBe('1');
      const released = await waitFor(() => c.of('lock:renew').find((o) => o.hold === null));
      expect(released.endCause).toBe('released');
      // A string lock whose key is gone has nothing to read: no fetch for the release.
      expect(await fetchCalls(redis)).toBe(fetchesBefore);
    });
  });
  it('counts holds too short to read (set and del before the fetch) as acquisitions with an unread holder, in order', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      await redis.cli(['SET', 'lock:flash', 'first', 'PX', '60000']);
      await waitFor(() => c.of('lock:flash').find((o) => o.hold?.holder === 'first'), { message: 'the first hold' });
      // One transaction: the known hold ends, a second comes and goes, a third stays.
      // Their notifications arrive together, so only the third value can still be read.
      const script = "redis.call('DEL', KEYS[1]); redis.call('SET', KEYS[1], 'second', 'PX', 60000); redis.call('DEL', KEYS[1]); redis.call('SET', KEYS[1], 'third', 'PX', 60000); return 1";
      await redis.cli(['EVAL', script, '1', 'lock:flash']);
      await waitFor(() => c.of('lock:flash').find((o) => o.hold?.holder === 'third'), { message: 'the third hold' });
      const sequence = c.of('lock:flash').map((o) => (o.hold ? `held:${o.hold.holder.startsWith('(unread') ? 'unread' : o.hold.holder}` : `free:${o.endCause}`));
      expect(sequence).toEqual(['held:first', 'free:released', 'held:unread', 'free:released', 'held:third']);
      const seqs = c.of('lock:flash').map((o) => o.seq);
      expect([...seqs].sort((a, b) => (a < b ? -1 : 1))).toEqual(seqs);

      // On a free key: set and deleted inside one script, then nothing (and nothing to fetch).
      const fetchesBefore = await fetchCalls(redis);
      await redis.cli(['EVAL', "redis.call('SET', KEYS[1], 'gone', 'PX', 60000); redis.call('DEL', KEYS[1]); return 1", '1', 'lock:blink']);
      await waitFor(() => c.of('lock:blink').length >= 2, { message: 'the blink observations' });
      const blink = c.of('lock:blink').map((o) => (o.hold ? `held:${o.hold.holder.startsWith('(unread') ? 'unread' : o.hold.holder}` : `free:${o.endCause}`));
      expect(blink).toEqual(['held:unread', 'free:released']);
      expect(await fetchCalls(redis)).toBe(fetchesBefore);
    });
  });

  it('reports an eviction under memory pressure as an end with unknown cause', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      await redis.cli(['SET', 'lock:ev', 'tok-ev', 'PX', '60000']);
      await waitFor(() => c.of('lock:ev').some((o) => o.hold !== null));
      const used = Number(/used_memory:(\d+)/.exec(await redis.cli(['INFO', 'memory']))![1]);
      // volatile-ttl evicts keys with a TTL first: the lock is the only one.
      await redis.cli(['CONFIG', 'SET', 'maxmemory-policy', 'volatile-ttl']);
      await redis.cli(['CONFIG', 'SET', 'maxmemory', String(used + 256 * 1024)]);
      await redis.cli(['-x', 'SET', 'other:ballast'], { stdin: 'b'.repeat(512 * 1024) }).catch(() => undefined);
      const ended = await waitFor(() => c.of('lock:ev').find((o) => o.hold === null), { message: 'lock:ev evicted' });
      expect(ended.endCause).toBe('unknown');
      expect((await redis.cli(['INFO', 'stats'])).match(/evicted_keys:(\d+)/)![1]).not.toBe('0');
    });
  });
});

describe('Redis source: Redisson layouts', () => {
  it('recognises a Redisson hash lock with holder, watchdog TTL, renewals and fencing token', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      const field = `${uuid()}:1`;
      await redis.cli(['SET', 'redisson_lock_token:{lock:r}', '42']);
      await redis.cli(['HSET', 'lock:r', field, '1']);
      await redis.cli(['PEXPIRE', 'lock:r', '30000']);
      const held = await waitFor(() => c.of('lock:r').find((o) => o.hold?.ttlMs === 30_000));
      expect(held.dialect).toBe('redisson');
      expect(held.hold).toMatchObject({ holdId: field, holder: field, token: '42' });
      expect(held.waiters).toBeNull();

      await new Promise((r) => setTimeout(r, 50));
      await redis.cli(['PEXPIRE', 'lock:r', '30000']);
      const renewed = await waitFor(() => c.of('lock:r').find((o) => o.seq > held.seq && o.hold?.renewedAt != null && o.hold.renewedAt > held.hold!.renewedAt!));
      expect(renewed.hold!.holdId).toBe(field);

      const live = await source.get('lock:r');
      expect(live).toMatchObject({ name: 'lock:r', dialect: 'redisson', hold: { holder: field, token: '42', ttlMs: 30_000 } });
      expect((await source.list()).map((l) => l.name)).toEqual(['lock:r']);
    });
  });

  it('recognises a fair lock queue with two waiters in FIFO order with deadlines', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      const holder = `${uuid()}:1`;
      const first = `${uuid()}:7`;
      const second = `${uuid()}:3`;
      const now = Date.now();
      await redis.cli(['HSET', 'lock:f', holder, '1']);
      await redis.cli(['PEXPIRE', 'lock:f', '30000']);
      await redis.cli(['RPUSH', 'redisson_lock_queue:{lock:f}', first, second]);
      await redis.cli(['ZADD', 'redisson_lock_timeout:{lock:f}', String(now + 300_000), first, String(now + 305_000), second]);
      const queued = await waitFor(() => c.of('lock:f').find((o) => o.waiters?.length === 2));
      expect(queued.dialect).toBe('redisson-fair');
      expect(queued.hold?.holder).toBe(holder);
      expect(queued.waiters!.map((w) => w.id)).toEqual([first, second]);
      const last = c.of('lock:f').at(-1)!;
      await waitFor(() => c.of('lock:f').at(-1)!.waiters!.every((w) => w.deadline !== null));
      expect(c.of('lock:f').at(-1)!.waiters!.map((w) => w.deadline)).toEqual([now + 300_000, now + 305_000]);
      // since is the first sighting and stays put as the queue is re-read.
      expect(last.waiters![0]!.since).toBeGreaterThanOrEqual(now - 1000);
      expect(c.of('lock:f').at(-1)!.waiters![0]!.since).toBe(queued.waiters![0]!.since);

      // The holder leaves: the lock is free with both still waiting.
      await redis.cli(['DEL', 'lock:f']);
      const free = await waitFor(() => c.of('lock:f').find((o) => o.hold === null));
      expect(free).toMatchObject({ dialect: 'redisson-fair', endCause: 'released' });
      expect(free.waiters!.map((w) => w.id)).toEqual([first, second]);
      const listed = await source.list();
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ name: 'lock:f', dialect: 'redisson-fair', hold: null });
    });
  });
  it('keeps a fair lock fair when Redisson deletes its emptied queue', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      const holder = `${uuid()}:1`;
      const waiter = `${uuid()}:2`;
      await redis.cli(['HSET', 'lock:fq', holder, '1']);
      await redis.cli(['RPUSH', 'redisson_lock_queue:{lock:fq}', waiter]);
      await redis.cli(['ZADD', 'redisson_lock_timeout:{lock:fq}', String(Date.now() + 60_000), waiter]);
      await waitFor(() => c.of('lock:fq').find((o) => o.dialect === 'redisson-fair' && o.waiters?.length === 1), { message: 'the fair lock with a waiter' });
      // The waiter gives up: Redisson removes both queue keys; the hash stays held.
      await redis.cli(['DEL', 'redisson_lock_queue:{lock:fq}', 'redisson_lock_timeout:{lock:fq}']);
      const after = await waitFor(() => c.of('lock:fq').at(-1)?.waiters?.length === 0 ? c.of('lock:fq').at(-1) : undefined, { message: 'the emptied queue' });
      expect(after).toMatchObject({ dialect: 'redisson-fair', waiters: [] });
      expect(after!.hold?.holder).toBe(holder);
    });
  });

  it('with a pattern as wide as *, lists read/write locks but not Redisson bookkeeping keys', async () => {
    await withSource(
      async ({ redis, source }) => {
        const [a, b] = [`${uuid()}:1`, `${uuid()}:2`];
        await redis.cli(['HSET', 'rw', 'mode', 'read', a, '1', b, '1']);
        await redis.cli(['PEXPIRE', 'rw', '30000']);
        await redis.cli(['SET', `{rw}:${a}:rwlock_timeout:1`, '1', 'PX', '30000']);
        await redis.cli(['SET', 'redisson_lock_token:{rw}', '3']);
        await redis.cli(['RPUSH', 'queue:jobs', 'job-1']);
        const c = collector();
        await source.watch({ sink: c.sink });
        expect(c.observations.map((o) => displayKey(o.key))).toEqual(['rw']);
        const [rw] = await source.list();
        expect(rw).toMatchObject({ name: 'rw', dialect: 'redisson', hold: { holder: `read: ${[a, b].sort().join(', ')}`, token: '3' } });
        await redis.cli(['SET', `{rw}:${b}:rwlock_timeout:1`, '1', 'PX', '30000']);
        await redis.cli(['SET', 'plain', 'tok', 'PX', '30000']);
        await waitFor(() => c.of('plain').length > 0);
        expect(c.observations.map((o) => displayKey(o.key))).toEqual(['rw', 'plain']);
      },
      { source: { patterns: ['*'] } },
    );
  });
});

describe('Redis source: keyspace notification settings', () => {
  it('enables notifications that are off, and then sees locks', async () => {
    await withSource(
      async ({ redis, source }) => {
        expect(await redis.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).toBe('notify-keyspace-events\n\n');
        const c = collector();
        await source.watch({ sink: c.sink });
        expect(source.health().notifications).toBe('enabled-by-lockscope');
        const flags = (await redis.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).split('\n')[1]!;
        for (const flag of ['K', 'g', '$', 'h', 'x', 'e', 'l', 'z']) expect(flags).toContain(flag);
        // Keyevent channels (E) are never read: asking for them would double what Redis publishes.
        expect(flags).not.toContain('E');
        await redis.cli(['SET', 'lock:n', 'tok-n', 'PX', '5000']);
        await waitFor(() => c.of('lock:n').some((o) => o.hold?.holder === 'tok-n'));
      },
      { redis: { notifyKeyspaceEvents: '' } },
    );
  });

  it('fails with the exact setting to add when CONFIG is disabled and notifications are off', async () => {
    await withSource(
      async ({ source }) => {
        const error = await source.watch({ sink: collector().sink }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isLockscopeError(error, 'SOURCE_MISCONFIGURED')).toBe(true);
        expect((error as Error).message).toContain('notify-keyspace-events Kg$hlzxe');
        expect(source.health().lastError).toContain('notify-keyspace-events Kg$hlzxe');
        expect(source.health().notifications).toBe('off');
      },
      { redis: { notifyKeyspaceEvents: '', extraArgs: ['--rename-command', 'CONFIG', ''] } },
    );
  });

  it('does not touch the server setting when enableNotifications is false, and says what to add', async () => {
    await withSource(
      async ({ redis, source }) => {
        const error = await source.watch({ sink: collector().sink }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isLockscopeError(error, 'SOURCE_MISCONFIGURED')).toBe(true);
        expect((error as Error).message).toContain('notify-keyspace-events Kg$hlzxe');
        expect(await redis.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).toBe('notify-keyspace-events\n\n');
        expect(await lockscopeClients(redis)).toEqual([]);
      },
      { redis: { notifyKeyspaceEvents: '' }, source: { enableNotifications: false } },
    );
  });
});

describe('Redis source: connections', () => {
  it('does not connect on construction and leaves no connection after stop', async () => {
    await withSource(async ({ redis, source }) => {
      const resources = () => {
        const info = process.getActiveResourcesInfo();
        return { sockets: info.filter((r) => r === 'TCPSocketWrap').length, timers: info.filter((r) => r === 'Timeout').length };
      };
      const before = resources();
      expect(await lockscopeClients(redis)).toEqual([]);
      await source.watch({ sink: collector().sink });
      await source.list();
      expect((await lockscopeClients(redis)).length).toBe(2);
      expect(resources().sockets).toBe(before.sockets + 2);
      await source.stop();
      await waitFor(async () => (await lockscopeClients(redis)).length === 0, { message: 'lockscope connections to close' });
      expect(source.health().connected).toBe(false);
      // The test process's own transient timers (child-process helpers) may come and go; ours must not stay.
      await waitFor(() => resources().sockets === before.sockets && resources().timers <= before.timers, {
        message: `sockets and timers back to ${JSON.stringify(before)}`,
      });
    });
  });

  it('resyncs after its notification connection is killed and reports what changed meanwhile', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await redis.cli(['SET', 'lock:a', 'tok-a', 'PX', '60000']);
      await source.watch({ sink: c.sink });
      expect(c.resyncs).toHaveLength(1);
      expect(c.of('lock:a')[0]).toMatchObject({ replayed: true, hold: { holder: 'tok-a' } });
      const before = c.observations.length;

      // Atomically: drop the subscriber, then change locks. Their notifications are lost for sure.
      await redis.cli([], { stdin: 'MULTI\nCLIENT KILL TYPE pubsub\nDEL lock:a\nSET lock:b tok-b PX 60000\nEXEC\n' });
      const resync = await waitFor(() => (c.resyncs.length >= 2 ? c.resyncs[1] : undefined), { message: 'a second resync' });
      expect([...resync.live].map((hex) => Buffer.from(hex, 'hex').toString())).toEqual(['lock:b']);
      const after = c.observations.slice(before);
      expect(after.find((o) => displayKey(o.key) === 'lock:b')).toMatchObject({ replayed: true, hold: { holder: 'tok-b' } });
      // lock:a's end was not seen as an event: the sink learns it from the resync's live set.
      expect(after.some((o) => displayKey(o.key) === 'lock:a')).toBe(false);
      await waitFor(() => source.health().connected);

      // Notifications flow again after the reconnect.
      await redis.cli(['SET', 'lock:c', 'tok-c', 'PX', '60000']);
      await waitFor(() => c.of('lock:c').some((o) => o.hold?.holder === 'tok-c' && !o.replayed));
    });
  });
});

describe('Redis source: odd keys and scale', () => {
  it('shows non-UTF-8 keys, control characters and a 1 MB value safely', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      await redis.cli([], { stdin: 'SET "lock:\\xff\\xfe" "tok\\x00\\x01" PX 60000\nSET "lock:ctl\\n\\t\\x1b[31m" "v\\r\\n" PX 60000\n' });
      await redis.cli(['-x', 'SET', 'lock:big'], { stdin: 'a'.repeat(1 << 20) });

      const binary = await waitFor(() => c.observations.find((o) => Buffer.from(o.key).equals(Buffer.from([...Buffer.from('lock:'), 0xff, 0xfe]))));
      expect(binary.hold!.holder).toBe('tok\\x00\\x01');
      const ctl = await waitFor(() => c.of('lock:ctl\n\t\x1b[31m')[0]);
      expect(ctl.hold!.holder).toBe('v\\x0d\\x0a');
      const big = await waitFor(() => c.of('lock:big')[0]);
      expect(big.hold!.holder.length).toBeLessThan(300);
      expect(big.hold!.holder).toContain('(1048576 bytes)');
      expect(big.hold!.holdId).toMatch(/^sha1:[0-9a-f]{40}$/);
      expect(big.hold!.ttlMs).toBeNull();

      const names = (await source.list()).map((l) => l.name).sort();
      expect(names).toEqual(['lock:\\xff\\xfe', 'lock:big', 'lock:ctl\n\t\x1b[31m']);
      const byName = await source.get('lock:\\xff\\xfe');
      expect(byName?.hold?.holder).toBe('tok\\x00\\x01');

      // Both hashed and binary holds release through the guarded script.
      await source.release({ name: 'lock:big', expectHoldId: big.hold!.holdId });
      await source.release({ name: 'lock:\\xff\\xfe', expectHoldId: binary.hold!.holdId });
      expect((await source.list()).map((l) => l.name)).toEqual(['lock:ctl\n\t\x1b[31m']);
    });
  });

  it('resyncs and lists quickly beside 100,000 unrelated keys and non-lock shapes under the pattern', async () => {
    await withSource(
      async ({ redis, source }) => {
        await redis.cli(['DEBUG', 'POPULATE', '100000', 'other']);
        await redis.cli(['SADD', 'lock:set', 'a']);
        await redis.cli(['HSET', 'lock:hash', 'name', 'not-a-lock']);
        await redis.cli(['RPUSH', 'lock:list', 'x']);
        await redis.cli(['SET', 'lock:real', 'tok', 'PX', '60000']);
        const c = collector();
        await redis.cli(['CONFIG', 'RESETSTAT']);
        const started = performance.now();
        await source.watch({ sink: c.sink });
        const resyncMs = performance.now() - started;
        expect(c.resyncs[0]!.live.size).toBe(1);
        expect(c.observations.map((o) => displayKey(o.key))).toEqual(['lock:real']);
        // Cost is per matching key, never per unrelated key: two SCAN passes of ~100 pages, 4 TYPEs, values read only for locks.
        const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
        const stats = await redis.cli(['INFO', 'commandstats']);
        expect(calls('type')).toBe(4);
        expect(calls('scan')).toBeLessThan(250);
        expect(calls('get')).toBeLessThanOrEqual(5);
        expect(resyncMs).toBeLessThan(10_000);

        await redis.cli(['DEBUG', 'POPULATE', '5000', 'lock:p']);
        const listStarted = performance.now();
        const listed = await source.list();
        const listMs = performance.now() - listStarted;
        expect(listed).toHaveLength(5001);
        // A loose bound: the machine is shared; the command counts above are the strict check.
        expect(listMs).toBeLessThan(10_000);
        console.log(`[redis figures] watch+resync beside 100k keys: ${resyncMs.toFixed(0)} ms; list() of 5,001 locks: ${listMs.toFixed(0)} ms`);

        // Non-lock writes under the pattern produce nothing.
        await redis.cli(['SADD', 'lock:set', 'b']);
        await redis.cli(['SET', 'lock:after', 'tok2', 'PX', '60000']);
        await waitFor(() => c.of('lock:after').length > 0);
        expect(c.of('lock:set')).toEqual([]);
      },
      { redis: { extraArgs: ['--enable-debug-command', 'local'] } },
    );
  });
});

describe('Redis source: guarded release', () => {
  it('deletes exactly the observed hold, refuses a changed holder, and reports free or unknown locks', async () => {
    await withSource(async ({ redis, source }) => {
      const c = collector();
      await source.watch({ sink: c.sink });
      await redis.cli(['SET', 'lock:rel', 'tok-1', 'PX', '60000']);
      await waitFor(() => c.of('lock:rel').length > 0);

      const dry = await source.release({ name: 'lock:rel', expectHoldId: 'tok-1', dryRun: true });
      expect(dry.released).toBe(false);
      expect(dry.actions.join(' ')).toContain('tok-1');
      expect((await redis.cli(['GET', 'lock:rel'])).trim()).toBe('tok-1');

      // The holder changed after the operator looked: nothing is deleted.
      await redis.cli(['SET', 'lock:rel', 'tok-2', 'PX', '60000']);
      const stale = await source.release({ name: 'lock:rel', expectHoldId: 'tok-1' }).catch((e: unknown) => e);
      expect(isLockscopeError(stale, 'HOLDER_CHANGED')).toBe(true);
      expect((await redis.cli(['GET', 'lock:rel'])).trim()).toBe('tok-2');
      const staleHolder = await source.release({ name: 'lock:rel', expectHolder: 'tok-1' }).catch((e: unknown) => e);
      expect(isLockscopeError(staleHolder, 'HOLDER_CHANGED')).toBe(true);

      const done = await source.release({ name: 'lock:rel', expectHoldId: 'tok-2' });
      expect(done).toMatchObject({ released: true, lock: { name: 'lock:rel', hold: { holder: 'tok-2' } } });
      expect((await redis.cli(['EXISTS', 'lock:rel'])).trim()).toBe('0');
      await waitFor(() => c.of('lock:rel').some((o) => o.hold === null && o.endCause === 'released'));

      const free = await source.release({ name: 'lock:rel', expectHoldId: 'tok-2' }).catch((e: unknown) => e);
      expect(isLockscopeError(free, 'LOCK_FREE') || isLockscopeError(free, 'LOCK_NOT_FOUND')).toBe(true);
      const unknown = await source.release({ name: 'lock:never' }).catch((e: unknown) => e);
      expect(isLockscopeError(unknown, 'LOCK_NOT_FOUND')).toBe(true);
      const outside = await source.release({ name: 'other:key' }).catch((e: unknown) => e);
      expect(isLockscopeError(outside, 'LOCK_NOT_FOUND')).toBe(true);
    });
  });

  it('releases a Redisson lock and publishes the unlock message waiters listen for', async () => {
    await withSource(async ({ redis, source }) => {
      const holder = `${uuid()}:1`;
      const waiter = `${uuid()}:9`;
      await redis.cli(['HSET', 'lock:rr', holder, '1']);
      await redis.cli(['PEXPIRE', 'lock:rr', '30000']);
      await redis.cli(['RPUSH', 'redisson_lock_queue:{lock:rr}', waiter]);
      const messages: Array<[string, string]> = [];
      const listener = createRedisClient(redis.url, { connectionName: 'test-listener', onError: () => undefined });
      try {
        await listener.connect();
        listener.on('message', (channel: string, message: string) => messages.push([channel, message]));
        await listener.subscribe('redisson_lock__channel:{lock:rr}', `redisson_lock__channel:{lock:rr}:${waiter}`);

        const other = `${uuid()}:2`;
        const stale = await source.release({ name: 'lock:rr', expectHoldId: other }).catch((e: unknown) => e);
        expect(isLockscopeError(stale, 'HOLDER_CHANGED')).toBe(true);
        expect((await redis.cli(['EXISTS', 'lock:rr'])).trim()).toBe('1');

        const result = await source.release({ name: 'lock:rr', expectHoldId: holder });
        expect(result.released).toBe(true);
        expect(result.lock.dialect).toBe('redisson-fair');
        expect((await redis.cli(['EXISTS', 'lock:rr'])).trim()).toBe('0');
        await waitFor(() => messages.length === 2);
        expect(messages).toEqual([
          ['redisson_lock__channel:{lock:rr}', '0'],
          [`redisson_lock__channel:{lock:rr}:${waiter}`, '0'],
        ]);
        // The queue is Redisson's to advance; a fair lock with a waiter and no holder is free.
        const again = await source.release({ name: 'lock:rr' }).catch((e: unknown) => e);
        expect(isLockscopeError(again, 'LOCK_FREE')).toBe(true);
      } finally {
        listener.disconnect();
      }
    });
  });

  it('checks a lease live: exists while the hold stands, not once it changed', async () => {
    await withSource(async ({ redis, source }) => {
      await redis.cli(['SET', 'lock:lease', 'tok', 'PX', '10000']);
      // Not watching: the remaining TTL is known, the grant is not.
      expect(await source.checkLease(Buffer.from('lock:lease'), 'tok')).toMatchObject({ exists: true, ttlMs: null });
      const c = collector();
      await source.watch({ sink: c.sink });
      await redis.cli(['PEXPIRE', 'lock:lease', '10000']);
      await waitFor(() => c.of('lock:lease').some((o) => o.hold?.ttlMs === 10_000));
      const check = await source.checkLease(Buffer.from('lock:lease'), 'tok');
      expect(check.exists).toBe(true);
      expect(check.ttlMs).toBe(10_000);
      expect(check.remainingMs).toBeGreaterThan(9000);
      await redis.cli(['SET', 'lock:lease', 'other', 'PX', '10000']);
      expect(await source.checkLease(Buffer.from('lock:lease'), 'tok')).toEqual({ exists: false, remainingMs: null, ttlMs: null });
      await redis.cli(['DEL', 'lock:lease']);
      expect((await source.checkLease(Buffer.from('lock:lease'), 'other')).exists).toBe(false);
    });
  });

  it('reports SOURCE_UNREACHABLE with the URL but never the password', async () => {
    const port = await freePort();
    const source = createRedisSource(config(`redis://lockscope:s3cret@127.0.0.1:${port}/0`), { connectTimeoutMs: 1_000 });
    try {
      const error = await source.release({ name: 'lock:x', expectHoldId: 'tok' }).catch((e: unknown) => e);
      expect(isLockscopeError(error, 'SOURCE_UNREACHABLE')).toBe(true);
      expect((error as Error).message).toContain(`127.0.0.1:${port}`);
      expect((error as Error).message).not.toContain('s3cret');
      expect(source.health().lastError).toContain(`127.0.0.1:${port}`);
      const probed = await source.probe();
      expect(probed.connected).toBe(false);
      expect(probed.lastError).not.toContain('s3cret');
      const watchError = await source.watch({ sink: collector().sink }).catch((e: unknown) => e);
      expect(isLockscopeError(watchError, 'SOURCE_UNREACHABLE')).toBe(true);
    } finally {
      await source.stop();
    }
  });
});
