import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { displayKey, LockTracker, type CompletedHold, type LockObservation, type RedisSourceConfig } from '@lockscope/core';
import { startRedis, waitFor, type RedisServer, type StartRedisOptions } from '@lockscope/testing';
import type { LockSource, ObservationSink, SourceHealth } from '../source.js';
import { createRedisClient } from './redis-client.js';
import { UNREAD_HOLDER } from './redis-reconciler.js';
import { createRedisSource, type RedisSourceOptions } from './redis-source.js';

function config(url: string, overrides: Partial<RedisSourceConfig> = {}): RedisSourceConfig {
  return { name: 'redis-faults', kind: 'redis', url, patterns: ['lock:*'], enableNotifications: true, ...overrides };
}

/**
 * A sink that does what the collector does with observations: one LockTracker
 * per lock, and a resync ends the holds of locks that no longer exist. What it
 * records is what the store would get.
 */
function trackerSink() {
  const trackers = new Map<string, LockTracker>();
  const completed: Array<CompletedHold & { name: string }> = [];
  const healths: SourceHealth[] = [];
  const replayedAt = new Map<string, number>();
  let resyncs = 0;
  const record = (name: string, hold: CompletedHold | null) => {
    if (hold) completed.push({ ...hold, name });
  };
  const sink: ObservationSink = {
    observe(o: LockObservation) {
      const name = displayKey(o.key);
      if (o.replayed && !replayedAt.has(name)) replayedAt.set(name, Date.now());
      let t = trackers.get(name);
      if (!t) trackers.set(name, (t = LockTracker.create({ source: o.source, key: o.key, dialect: o.dialect, at: o.at }, { nearExpiryRatio: 0.8 })));
      record(name, t.apply(o).completed);
    },
    resynced(_source, live, at) {
      resyncs += 1;
      for (const [name, t] of trackers) if (t.hold && !live.has(t.keyHex)) record(name, t.end(at, 'unknown').completed);
    },
    health: (h) => healths.push(h),
  };
  return {
    sink,
    completed,
    healths,
    replayedAt,
    resyncs: () => resyncs,
    holder: (name: string) => trackers.get(name)?.hold?.holder ?? null,
  };
}

async function withRedis(options: StartRedisOptions, fn: (redis: RedisServer) => Promise<void>): Promise<void> {
  const redis = await startRedis(options);
  try {
    await fn(redis);
  } finally {
    await redis.stop();
  }
}

async function withSource(redis: RedisServer, overrides: Partial<RedisSourceConfig>, options: RedisSourceOptions, fn: (source: LockSource) => Promise<void>): Promise<void> {
  const source = createRedisSource(config(redis.url, overrides), options);
  try {
    await fn(source);
  } finally {
    await source.stop();
  }
}

const flags = async (redis: RedisServer) => (await redis.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).split('\n')[1] ?? '';

/** How many CONFIG GETs the server has answered (the source's checks, and this test's own). */
async function configCalls(redis: RedisServer): Promise<number> {
  const stats = await redis.cli(['INFO', 'commandstats']);
  return Number(/cmdstat_config(?:\|get)?:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('Redis source: the server restarts (SHUTDOWN NOSAVE, same port)', () => {
  it('ends the holds that vanished, reconciles the ones that exist at reconnect, and loses none taken after it', async () => {
    // Notifications off in the server's config: the restart forgets what the source enabled.
    await withRedis({ notifyKeyspaceEvents: '' }, async (redis) => {
      await withSource(redis, {}, {}, async (source) => {
        const m = trackerSink();
        await source.watch({ sink: m.sink });
        expect(source.health().notifications).toBe('enabled-by-lockscope');
        await redis.cli(['SET', 'lock:before', 'b0', 'PX', '60000']);
        await waitFor(() => m.holder('lock:before') === 'b0', { message: 'lock:before held' });
        const resyncsBefore = m.resyncs();

        await redis.restart();
        // Taken before the source is back: it exists at reconnect and must be reconciled.
        await redis.cli(['SET', 'lock:early', 'e1', 'PX', '60000']);

        // Traffic from the restart on: SET NX PX, hold ~30 ms, DEL, each with its own token.
        const client = createRedisClient(redis.url, { connectionName: 'test-load', onError: () => undefined });
        const truth: Array<{ name: string; token: string; setAt: number }> = [];
        let stopTraffic = false;
        const traffic = (async () => {
          await client.connect();
          for (let i = 0; !stopTraffic; i++) {
            const name = `lock:t${i % 4}`;
            const token = `tok-${i}`;
            const setAt = Date.now();
            if ((await client.set(name, token, 'PX', 5_000, 'NX')) !== 'OK') continue;
            truth.push({ name, token, setAt });
            await sleep(30);
            await client.del(name);
          }
        })();
        try {
          await waitFor(() => m.resyncs() > resyncsBefore && source.health().connected, { timeoutMs: 20_000, message: 'the resync after the restart' });
          const lateCount = () => truth.filter((t) => t.setAt > (m.replayedAt.get('lock:early') ?? Infinity)).length;
          await waitFor(() => lateCount() >= 20, { timeoutMs: 20_000, message: '20 holds after the reconnect' });
        } finally {
          stopTraffic = true;
          await traffic;
          client.disconnect();
        }

        expect(source.health()).toMatchObject({ connected: true, lastError: null, notifications: 'enabled-by-lockscope' });
        expect(await flags(redis)).toContain('K');
        // The hold from before the restart is gone: ended, as unknown (nobody saw how).
        expect(m.holder('lock:before')).toBeNull();
        expect(m.completed.find((h) => h.name === 'lock:before')).toMatchObject({ holder: 'b0', endReason: 'unknown', approximate: true });
        // The one that existed at reconnect is held.
        expect(m.holder('lock:early')).toBe('e1');

        // Every hold that began once the source was reading again is stored once, with its holder, as released.
        const reconnectedAt = m.replayedAt.get('lock:early')!;
        const late = truth.filter((t) => t.setAt > reconnectedAt);
        await waitFor(() => late.every((t) => m.completed.some((h) => h.holder === t.token)), { timeoutMs: 10_000, message: 'every late hold completed' });
        for (const t of late) {
          const stored = m.completed.filter((h) => h.holder === t.token);
          expect(stored, t.token).toHaveLength(1);
          expect(stored[0]!.endReason, t.token).toBe('released');
        }
        // Nothing invented: every stored hold of the traffic is a real one (or an unread short one).
        const tokens = new Set(truth.map((t) => t.token));
        for (const h of m.completed.filter((c) => c.name.startsWith('lock:t'))) expect(tokens.has(h.holder!) || h.holder === UNREAD_HOLDER, String(h.holder)).toBe(true);
      });
    });
  });
});

describe('Redis source: keyspace notifications switched off by someone else', () => {
  it('turns unhealthy saying so, re-enables them, and resyncs what changed meanwhile', async () => {
    await withRedis({}, async (redis) => {
      await withSource(redis, {}, { notificationCheckMs: 200 }, async (source) => {
        const m = trackerSink();
        await source.watch({ sink: m.sink });
        await redis.cli(['SET', 'lock:a', 'a1', 'PX', '60000']);
        await waitFor(() => m.holder('lock:a') === 'a1', { message: 'lock:a held' });

        await redis.cli(['CONFIG', 'SET', 'notify-keyspace-events', '']);
        // Changes nobody is told about.
        await redis.cli(['DEL', 'lock:a']);
        await redis.cli(['SET', 'lock:gap', 'g1', 'PX', '60000']);

        const unhealthy = await waitFor(() => m.healths.find((h) => !h.connected && /switched off/.test(h.lastError ?? '')), {
          timeoutMs: 10_000,
          message: 'an unhealthy report naming the switched-off notifications',
        });
        expect(unhealthy.lastError).toContain('notify-keyspace-events is now ""');
        expect(unhealthy.lastError).toContain('re-enabling');
        await waitFor(() => m.holder('lock:gap') === 'g1', { timeoutMs: 10_000, message: 'the gap resynced' });
        await waitFor(() => source.health().connected, { message: 'healthy again' });
        expect(source.health()).toMatchObject({ lastError: null, notifications: 'enabled-by-lockscope' });
        expect(await flags(redis)).toContain('K');
        expect(m.completed.find((h) => h.name === 'lock:a')).toMatchObject({ holder: 'a1', endReason: 'unknown' });

        // Notifications flow again.
        await redis.cli(['SET', 'lock:after', 'x1', 'PX', '60000']);
        await waitFor(() => m.holder('lock:after') === 'x1', { message: 'lock:after seen live' });
      });
    });
  });

  it('without enableNotifications it stays unhealthy until someone restores them, then resyncs', async () => {
    await withRedis({}, async (redis) => {
      await withSource(redis, { enableNotifications: false }, { notificationCheckMs: 200 }, async (source) => {
        const m = trackerSink();
        await source.watch({ sink: m.sink });
        expect(source.health().notifications).toBe('on');

        await redis.cli(['CONFIG', 'SET', 'notify-keyspace-events', 'Kx']);
        const reduced = await flags(redis);
        await redis.cli(['SET', 'lock:gap', 'g1', 'PX', '60000']);
        await waitFor(() => !source.health().connected, { timeoutMs: 10_000, message: 'unhealthy' });
        expect(source.health().notifications).toBe('off');
        expect(source.health().lastError).toMatch(/enableNotifications|notify-keyspace-events Kg\$hlzxe/);
        // Several checks later it is still unhealthy, and did not touch the setting.
        const checks = await configCalls(redis);
        await waitFor(async () => (await configCalls(redis)) >= checks + 3, { timeoutMs: 10_000, message: 'three more checks' });
        expect(source.health().connected).toBe(false);
        expect(await flags(redis)).toBe(reduced);

        await redis.cli(['CONFIG', 'SET', 'notify-keyspace-events', 'KEA']);
        await waitFor(() => source.health().connected, { timeoutMs: 10_000, message: 'healthy once restored' });
        expect(source.health()).toMatchObject({ lastError: null, notifications: 'on' });
        expect(m.holder('lock:gap')).toBe('g1');
      });
    });
  });
});
