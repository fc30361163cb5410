import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLockscopeError, type LockEvent, type LockEventType, type LockRef } from '@lockscope/core';
import { openStore, type Store } from '@lockscope/store';
import { createTestDatabase, waitFor } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';
import { CollectorMetrics } from '../metrics.js';
import { ackAlert, listAlerts, listDeliveries, silenceAlert } from '@lockscope/store';
import { AlertManager, type AlertManagerOptions } from './alert-manager.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  status: number;
  at: number;
}

interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

/** A real HTTP webhook receiver on 127.0.0.1; `answer` picks the status (or a delay) per request. */
async function startReceiver(
  answer: (path: string, index: number, body: Record<string, unknown>) => number | { status: number; delayMs: number } = () => 200,
): Promise<Receiver> {
  const requests: Received[] = [];
  let index = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw) as Record<string, unknown>;
      const chosen = answer(req.url ?? '/', index++, body);
      const { status, delayMs } = typeof chosen === 'number' ? { status: chosen, delayMs: 0 } : chosen;
      const finish = () => {
        requests.push({ path: req.url ?? '/', headers: req.headers, raw, body, status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
      };
      if (delayMs > 0) setTimeout(finish, delayMs);
      else finish();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('receiver has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function verifySignature(secret: string, r: Received): boolean {
  const header = r.headers['x-lockscope-signature'];
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(Buffer.from(r.raw, 'utf8')).digest();
  const got = Buffer.from(header.slice(7), 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

type Provider = 'sqlite' | 'postgresql';

async function withStore(provider: Provider, fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-alerts-'));
  const db = provider === 'postgresql' ? await createTestDatabase() : null;
  let store: Store | undefined;
  try {
    store = await openStore({ url: db ? db.url : `file:${join(dir, 'alerts.db')}` });
    await store.migrate();
    await fn(store);
  } finally {
    await store?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withManager(store: Store, options: Omit<AlertManagerOptions, 'store'>, fn: (m: AlertManager, logs: string[]) => Promise<void>): Promise<void> {
  const logs: string[] = [];
  const manager = new AlertManager({ log: (l) => logs.push(l), ...options, store });
  await manager.start();
  try {
    await fn(manager, logs);
  } finally {
    await manager.stop();
  }
}

function ev(type: LockEventType, at: number, fields: Partial<LockEvent> = {}): LockEvent {
  return { type, at, holder: 'worker-1', token: null, ttlMs: 2_000, valueMs: null, ...fields };
}

const lockA: LockRef = { lockId: 'lockAid', source: 'redis-main', name: 'lock:orders' };
const lockB: LockRef = { lockId: 'lockBid', source: 'etcd-main', name: '/locks/inventory' };

describe.each<Provider>(['sqlite', 'postgresql'])('AlertManager on %s', (provider) => {
  it('near_expiry then lease_expired: one row per alert, resolved with resolvedAt, delivered signed, logged, counted in /metrics', async () => {
    const receiver = await startReceiver();
    try {
      await withStore(provider, async (store) => {
        const metrics = new CollectorMetrics();
        const secret = 'webhook-secret-1';
        await withManager(store, { config: { webhooks: [{ name: 'ops', url: `${receiver.url}/hook`, secret }] }, openAlertsGauge: metrics.openAlerts }, async (m) => {
          const t0 = Date.now();
          m.onEvent(lockA, ev('acquired', t0));
          expect(m.onEvent(lockA, ev('near_expiry', t0 + 1_640, { valueMs: 1_640 }))).toHaveLength(1);
          // The tracker fires once per grant; a repeat must still not open a second alert.
          expect(m.onEvent(lockA, ev('near_expiry', t0 + 1_700, { valueMs: 1_700 }))).toEqual([]);
          m.onEvent(lockA, ev('expired', t0 + 2_000, { valueMs: 2_000 }));
          await m.whenWritten();

          const rows = await store.prisma.alert.findMany({ orderBy: { id: 'asc' } });
          expect(rows.map((r) => [r.rule, r.state])).toEqual([
            ['near_expiry', 'resolved'],
            ['lease_expired', 'firing'],
          ]);
          expect(rows[0]).toMatchObject({ startedAt: BigInt(t0 + 1_640), resolvedAt: BigInt(t0 + 2_000), openKey: null, value: 0.82, threshold: 0.8, lockName: 'lock:orders' });
          expect(rows[1]).toMatchObject({ openKey: 'lease_expired|lockAid', value: 2_000, threshold: 2_000 });

          await waitFor(() => receiver.requests.length >= 3, { message: 'three deliveries' });
          const kinds = receiver.requests.map((r) => `${(r.body.alert as { rule: string }).rule}:${r.body.event as string}`);
          expect(kinds.sort()).toEqual(['lease_expired:alert.firing', 'near_expiry:alert.firing', 'near_expiry:alert.resolved']);
          for (const r of receiver.requests) {
            expect(r.path).toBe('/hook');
            expect(verifySignature(secret, r)).toBe(true);
            expect(verifySignature('wrong-secret', r)).toBe(false);
          }
          await waitFor(async () => (await store.prisma.delivery.count()) === 3, { message: 'delivery log' });
          const log = await listDeliveries(store, rows[0]!.id);
          expect(log.map((d) => [d.kind, d.attempt, d.status, d.ok, d.webhook])).toEqual([
            ['firing', 1, 200, true, 'ops'],
            ['resolved', 1, 200, true, 'ops'],
          ]);
          const text = await metrics.registry.metrics();
          expect(text).toContain('lockscope_open_alerts{rule="lease_expired"} 1');
          expect(text).toContain('lockscope_open_alerts{rule="near_expiry"} 0');
        });
      });
    } finally {
      await receiver.close();
    }
  });

  it('after a restart, open alerts are adopted: no duplicate row or page, and later events resolve them', async () => {
    const receiver = await startReceiver();
    try {
      await withStore(provider, async (store) => {
        const config = { webhooks: [{ url: receiver.url }] };
        const t0 = Date.now();
        await withManager(store, { config }, async (m) => {
          m.onEvent(lockA, ev('acquired', t0));
          m.onEvent(lockA, ev('near_expiry', t0 + 1_600, { valueMs: 1_600 }));
          await m.whenWritten();
          await waitFor(() => receiver.requests.length === 1);
        });
        await withManager(store, { config }, async (m) => {
          expect(m.openCounts().get('near_expiry')).toBe(1);
          expect(m.onEvent(lockA, ev('near_expiry', t0 + 1_650, { valueMs: 1_650 }))).toEqual([]);
          m.onEvent(lockA, ev('renewed', t0 + 1_800));
          await m.whenWritten();
          const rows = await store.prisma.alert.findMany();
          expect(rows).toHaveLength(1);
          expect(rows[0]).toMatchObject({ state: 'resolved', resolvedAt: BigInt(t0 + 1_800), openKey: null });
          await waitFor(() => receiver.requests.length === 2);
          expect(receiver.requests.map((r) => r.body.event)).toEqual(['alert.firing', 'alert.resolved']);
        });
      });
    } finally {
      await receiver.close();
    }
  });
});

describe('AlertManager webhooks and timing (sqlite)', () => {
  it('two collectors opening the same alert on one store: one row, one page (unique openKey)', async () => {
    const receiver = await startReceiver();
    try {
      await withStore('sqlite', async (store) => {
        const config = { webhooks: [{ url: receiver.url }] };
        await withManager(store, { config }, async (first) => {
          await withManager(store, { config }, async (second) => {
            const t0 = Date.now();
            for (const m of [first, second]) {
              m.onEvent(lockA, ev('acquired', t0));
              expect(m.onEvent(lockA, ev('near_expiry', t0 + 1_600, { valueMs: 1_600 }))).toHaveLength(1);
            }
            await Promise.all([first.whenWritten(), second.whenWritten()]);
            expect(await store.prisma.alert.count()).toBe(1);
            // Only the collector whose insert won queued a page.
            expect(first.delivery.pending + second.delivery.pending).toBeLessThanOrEqual(1);
            await waitFor(() => first.delivery.pending + second.delivery.pending === 0, { message: 'deliveries done' });
            expect(receiver.requests).toHaveLength(1);
          });
        });
      });
    } finally {
      await receiver.close();
    }
  });

  it('with the store down, detection goes on, pages go out at once, and every open and resolve is written in order when it is back', async () => {
    const receiver = await startReceiver();
    try {
      await withStore('sqlite', async (store) => {
        await withManager(store, { config: { webhooks: [{ url: receiver.url }] } }, async (m, logs) => {
          // A store that fails every alert write (as a database that went away would), and later comes back.
          await store.prisma.$executeRawUnsafe('ALTER TABLE "Alert" RENAME TO "AlertAway"');
          const t0 = Date.now();
          // 200 locks each expire, and 100 of them are taken again (resolving their alert).
          for (let i = 0; i < 200; i++) {
            const lock = { lockId: `lock${i}`, source: 'redis-main', name: `lock:${i}` };
            m.onEvent(lock, ev('acquired', t0 - 2_000));
            expect(m.onEvent(lock, ev('expired', t0, { valueMs: 2_000 }))).toMatchObject([{ kind: 'open', rule: 'lease_expired' }]);
            if (i % 2 === 0) m.onEvent(lock, ev('acquired', t0 + 10, { holder: 'worker-2' }));
          }
          expect(m.backlogSize()).toBe(300);
          // The pages do not wait for the store: 200 firing and 100 resolved, without store ids.
          await waitFor(() => receiver.requests.length === 300, { timeoutMs: 20_000, message: 'the 300 pages' });
          expect(receiver.requests.every((r) => (r.body.alert as { id: unknown }).id === null)).toBe(true);
          // One line for the outage, not one per write.
          expect(logs.filter((l) => l.startsWith('alerts: the store refused'))).toHaveLength(1);
          expect(logs.join('\n')).not.toContain('invocation');

          await store.prisma.$executeRawUnsafe('ALTER TABLE "AlertAway" RENAME TO "Alert"');
          await m.whenWritten();
          expect(m.backlogSize()).toBe(0);
          const rows = await store.prisma.alert.findMany({ orderBy: { id: 'asc' } });
          expect(rows).toHaveLength(200);
          expect(rows.filter((r) => r.state === 'resolved')).toHaveLength(100);
          expect(rows.filter((r) => r.state === 'firing').map((r) => r.lockName)).toEqual(Array.from({ length: 100 }, (_, i) => `lock:${2 * i + 1}`));
          expect(logs.filter((l) => l.startsWith('alerts: the store takes alert writes again'))).toHaveLength(1);
          // Nobody is paged twice for what was paged during the outage.
          await new Promise((r) => setTimeout(r, 300));
          expect(receiver.requests).toHaveLength(300);
        });
        // Starting on a broken store does not fail the collector's start: it retries in the background.
        await store.prisma.$executeRawUnsafe('DROP TABLE "Alert"');
        await withManager(store, { config: {} }, async (m, logs) => {
          expect(logs.join('\n')).toMatch(/alerts: could not load open alerts \(retrying in 1000 ms\)/);
          expect(m.onEvent(lockB, ev('expired', Date.now(), { valueMs: 10 }))).toHaveLength(1);
        });
      });
    } finally {
      await receiver.close();
    }
  });

  it('alert changes left unwritten at a stop are handed over, and a new manager writes them before its own', async () => {
    await withStore('sqlite', async (store) => {
      let left: ReturnType<AlertManager['unwritten']> = [];
      await withManager(store, { config: {} }, async (m) => {
        await store.prisma.$executeRawUnsafe('ALTER TABLE "Alert" RENAME TO "AlertAway"');
        const t0 = Date.now();
        m.onEvent(lockA, ev('acquired', t0 - 2_000));
        m.onEvent(lockA, ev('expired', t0, { valueMs: 2_000 }));
        await waitFor(() => m.backlogSize() === 1);
        await m.stop(200);
        left = m.unwritten();
      });
      expect(left).toMatchObject([{ kind: 'open', rule: 'lease_expired', lockId: 'lockAid' }]);
      await store.prisma.$executeRawUnsafe('ALTER TABLE "AlertAway" RENAME TO "Alert"');
      await withManager(store, { config: {} }, async (m) => {
        m.replay(left);
        await m.whenWritten();
        expect(await store.prisma.alert.findMany()).toMatchObject([{ rule: 'lease_expired', state: 'firing', lockName: 'lock:orders' }]);
      });
    });
  });

  it('a receiver answering 500 three times then 200 gets the alert once it recovers; other detection and a healthy webhook are not delayed', async () => {
    // Fails the first three requests for each alert, then accepts.
    const failures = new Map<string, number>();
    const flaky = await startReceiver((_path, _i, body) => {
      const key = (body.alert as { key: string }).key;
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      return n < 3 ? 500 : 200;
    });
    const slow = await startReceiver(() => ({ status: 200, delayMs: 5_000 }));
    const healthy = await startReceiver();
    try {
      await withStore('sqlite', async (store) => {
        const config = {
          webhooks: [
            { name: 'flaky', url: flaky.url },
            { name: 'slow', url: slow.url },
            { name: 'healthy', url: healthy.url },
          ],
        };
        await withManager(store, { config, delivery: { backoffBaseMs: 200, timeoutMs: 1_000, maxAttempts: 6 } }, async (m, logs) => {
          const t0 = Date.now();
          m.onEvent(lockA, ev('acquired', t0 - 2_000));
          m.onEvent(lockA, ev('expired', t0, { valueMs: 2_000 }));

          // While the flaky receiver fails and the slow one hangs, other alerts are detected and stored at once.
          const started = performance.now();
          const slowOpened = [];
          for (let i = 0; i < 8; i++) slowOpened.push(...m.onAcquisition(lockB, 120, Date.now()));
          const detectMs = performance.now() - started;
          expect(slowOpened.map((t) => t.rule)).toEqual(['slow_acquisition']);
          expect(detectMs).toBeLessThan(100);
          await waitFor(async () => (await store.prisma.alert.count({ where: { rule: 'slow_acquisition', state: 'firing' } })) === 1, { timeoutMs: 1_000, message: 'slow_acquisition stored' });
          await waitFor(() => healthy.requests.length === 2, { timeoutMs: 1_000, message: 'healthy webhook got both alerts' });
          // Backoff is 200 + 400 + 800 ms (±20 %): the flaky receiver cannot have recovered yet.
          expect(flaky.requests.filter((r) => r.status === 200)).toHaveLength(0);
          expect(slow.requests).toHaveLength(0);

          await waitFor(() => flaky.requests.filter((r) => r.status === 200).length === 2, { timeoutMs: 10_000, message: 'flaky receiver recovered' });
          const forExpired = flaky.requests.filter((r) => (r.body.alert as { key: string }).key === 'lease_expired|lockAid');
          expect(forExpired.map((r) => r.status)).toEqual([500, 500, 500, 200]);
          // Every retry carries the same alert, signed afresh only if a secret is set (none here).
          expect(new Set(forExpired.map((r) => JSON.stringify({ ...(r.body.alert as object) })))).toHaveProperty('size', 1);

          const expired = await store.prisma.alert.findFirstOrThrow({ where: { rule: 'lease_expired' } });
          await waitFor(async () => (await listDeliveries(store, expired.id)).filter((d) => d.webhook === 'flaky').length === 4, { message: 'flaky delivery log' });
          const flakyLog = (await listDeliveries(store, expired.id)).filter((d) => d.webhook === 'flaky');
          expect(flakyLog.map((d) => [d.attempt, d.status, d.ok])).toEqual([
            [1, 500, false],
            [2, 500, false],
            [3, 500, false],
            [4, 200, true],
          ]);
          const gaps = flakyLog.slice(1).map((d, i) => d.at - flakyLog[i]!.at);
          expect(gaps[0]).toBeGreaterThanOrEqual(150);
          expect(gaps[2]).toBeGreaterThan(gaps[0]!);
          // The slow receiver times out after 1 s and is logged as such.
          await waitFor(async () => (await listDeliveries(store, expired.id)).some((d) => d.webhook === 'slow' && d.error === 'no answer within 1000 ms'), { timeoutMs: 5_000, message: 'slow webhook timeout logged' });
          expect(logs.join('\n')).not.toContain('unexpectedly');
        });
      });
    } finally {
      await Promise.all([flaky.close(), slow.close(), healthy.close()]);
    }
  });

  it('a 4xx is not retried; stop() cuts a long backoff short and leaves nothing running', async () => {
    const rejecting = await startReceiver(() => 400);
    const down = await startReceiver(() => 503);
    try {
      await withStore('sqlite', async (store) => {
        const logs: string[] = [];
        const m = new AlertManager({
          store,
          log: (l) => logs.push(l),
          config: { webhooks: [{ name: 'rejecting', url: rejecting.url }, { name: 'down', url: down.url }] },
          delivery: { backoffBaseMs: 60_000 },
        });
        await m.start();
        m.onEvent(lockA, ev('acquired', Date.now() - 2_000));
        m.onEvent(lockA, ev('expired', Date.now(), { valueMs: 2_000 }));
        await m.whenWritten();
        await waitFor(async () => (await store.prisma.delivery.count()) === 2, { message: 'first attempts logged' });
        expect(logs.join('\n')).toContain('giving up on firing lease_expired to webhook rejecting after 1 attempt(s): HTTP 400');
        // "down" now waits a minute before its second attempt; stopping must not.
        expect(m.delivery.pending).toBe(1);
        const started = performance.now();
        await m.stop(2_000);
        expect(performance.now() - started).toBeLessThan(1_000);
        expect(m.delivery.pending).toBe(0);
        expect(rejecting.requests).toHaveLength(1);
        expect(down.requests).toHaveLength(1);
        const log = await store.prisma.delivery.findMany({ orderBy: { webhook: 'asc' } });
        expect(log.map((d) => [d.webhook, d.status, d.ok, d.error])).toEqual([
          ['down', 503, false, 'HTTP 503'],
          ['rejecting', 400, false, 'HTTP 400'],
        ]);
      });
    } finally {
      await Promise.all([rejecting.close(), down.close()]);
    }
  });

  it('overrides and mutes by glob take effect end to end (store and webhook)', async () => {
    const receiver = await startReceiver();
    try {
      await withStore('sqlite', async (store) => {
        const config = {
          mutes: [
            { match: 'redis-main:lock:quiet-*' },
            { match: 'lock:batch-*', rule: 'lease_expired' },
          ],
          overrides: [{ match: 'lock:tight-*', slowAcquisitionP95Ms: 500 }],
          webhooks: [{ url: receiver.url }],
        };
        await withManager(store, { config }, async (m) => {
          const t = Date.now();
          const ref = (name: string): LockRef => ({ lockId: `id-${name}`, source: 'redis-main', name });
          for (const name of ['lock:quiet-1', 'lock:batch-1', 'lock:plain']) {
            m.onEvent(ref(name), ev('acquired', t - 2_000));
            m.onEvent(ref(name), ev('near_expiry', t - 300, { valueMs: 1_700 }));
            m.onEvent(ref(name), ev('expired', t, { valueMs: 2_000 }));
          }
          for (let i = 0; i < 8; i++) {
            m.onAcquisition(ref('lock:tight-1'), 120, t + i);
            m.onAcquisition(ref('lock:loose-1'), 120, t + i);
          }
          await m.whenWritten();
          const rows = await store.prisma.alert.findMany({ orderBy: { id: 'asc' } });
          expect(rows.map((r) => `${r.rule}:${r.lockName}`)).toEqual([
            'near_expiry:lock:batch-1',
            'near_expiry:lock:plain',
            'lease_expired:lock:plain',
            'slow_acquisition:lock:loose-1',
          ]);
          await waitFor(() => receiver.requests.length === 6, { message: 'six notifications' });
          const names = receiver.requests.map((r) => (r.body.alert as { lockName: string }).lockName);
          expect(names).not.toContain('lock:quiet-1');
          expect(names).not.toContain('lock:tight-1');
        });
      });
    } finally {
      await receiver.close();
    }
  });

  it('an invalid rule in config is a clear error naming it', async () => {
    await withStore('sqlite', async (store) => {
      let error: unknown;
      try {
        new AlertManager({ store, config: { mutes: [{ match: 'lock:*', rule: 'near-expiry' }] } });
      } catch (e) {
        error = e;
      }
      expect(isLockscopeError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toContain('alerts.mutes[0].rule: unknown alert rule "near-expiry"');
    });
  });

  it('time-driven rules fire from the manager timer at their crossing, without further input', async () => {
    await withStore('sqlite', async (store) => {
      await withManager(store, { config: { highContentionWaiters: 3, highContentionFor: '300ms', overrides: [{ match: 'lock:orders', nearExpiryRatio: 0.9 }] } }, async (m) => {
        const t0 = Date.now();
        m.onWaiters(lockB, 4, t0);
        // lockA's override wants 0.9 x 1 s: the tracker's 0.8 event is held until 900 ms.
        m.onEvent(lockA, ev('acquired', t0, { ttlMs: 1_000 }));
        expect(m.onEvent(lockA, ev('near_expiry', t0 + 800, { ttlMs: 1_000, valueMs: 800 }))).toEqual([]);
        const contention = await waitFor(() => store.prisma.alert.findFirst({ where: { rule: 'high_contention' } }).then((r) => r ?? undefined), { timeoutMs: 2_000 });
        expect(Number(contention.startedAt) - t0).toBeGreaterThanOrEqual(300);
        expect(Number(contention.startedAt) - t0).toBeLessThan(600);
        expect(contention).toMatchObject({ value: 4, threshold: 3, lockId: 'lockBid' });
        const near = await waitFor(() => store.prisma.alert.findFirst({ where: { rule: 'near_expiry' } }).then((r) => r ?? undefined), { timeoutMs: 3_000 });
        // Fired by the timer at the 0.9 crossing (not at the tracker's 0.8, nor on a later poll).
        expect(Number(near.startedAt)).toBeGreaterThanOrEqual(t0 + 900);
        expect(Number(near.startedAt)).toBeLessThan(t0 + 1_000);
        expect(near.threshold).toBe(0.9);
        expect(near.value).toBeGreaterThanOrEqual(0.9);
      });
    });
  });

  it('source_down fires from polled health, and resolves when the source answers again', async () => {
    await withStore('sqlite', async (store) => {
      let health = { name: 'etcd-main', connected: false, lastSeenAt: null as number | null, lastError: 'connect ECONNREFUSED 127.0.0.1:1' };
      await withManager(store, { config: { sourceDownAfter: '300ms' }, sourceHealth: () => [health], healthPollMs: 50 }, async (m) => {
        const row = await waitFor(() => store.prisma.alert.findFirst({ where: { rule: 'source_down' } }).then((r) => r ?? undefined), { timeoutMs: 3_000 });
        expect(row).toMatchObject({ source: 'etcd-main', lockId: null, state: 'firing', openKey: 'source_down|etcd-main' });
        expect(row.message).toContain('ECONNREFUSED');
        health = { name: 'etcd-main', connected: true, lastSeenAt: Date.now(), lastError: '' };
        await waitFor(async () => (await store.prisma.alert.findFirst({ where: { rule: 'source_down' } }))?.state === 'resolved', { timeoutMs: 3_000 });
        expect(m.openCounts().get('source_down')).toBeUndefined();
        // Connected but silent: an etcd source heartbeats every 10 s, so silence counts after 20 s (the larger of that and 300 ms).
        const t = Date.now();
        expect(m.onSourceHealth({ name: 'etcd-2', kind: 'etcd', connected: true, lastSeenAt: t - 20_000 }, t)).toMatchObject([{ kind: 'open', rule: 'source_down' }]);
        // A Redis source has no idle heartbeat: a long quiet is not an outage.
        expect(m.onSourceHealth({ name: 'redis-2', kind: 'redis', connected: true, lastSeenAt: t - 3_600_000 }, t)).toEqual([]);
      });
    });
  });

  it('ack and silence: recorded, listed, and a silenced alert pages nobody, also when it re-opens', async () => {
    const receiver = await startReceiver();
    try {
      await withStore('sqlite', async (store) => {
        await withManager(store, { config: { webhooks: [{ url: receiver.url }] } }, async (m) => {
          const t0 = Date.now();
          m.onEvent(lockA, ev('acquired', t0));
          m.onEvent(lockA, ev('near_expiry', t0 + 1_700, { valueMs: 1_700 }));
          await m.whenWritten();
          await waitFor(() => receiver.requests.length === 1 && m.delivery.pending === 0, { message: 'first page delivered' });
          const [open] = await listAlerts(store, { state: 'firing', rule: 'near_expiry' });
          expect(open).toMatchObject({ rule: 'near_expiry', lockName: 'lock:orders', ackedAt: null, state: 'firing' });

          const acked = await ackAlert(store, { id: open!.id, by: 'alice', silenceForMs: 60_000, at: t0 + 1_800 });
          expect(acked).toMatchObject({ ackedBy: 'alice', ackedAt: t0 + 1_800, silencedUntil: t0 + 61_800 });
          m.onEvent(lockA, ev('renewed', t0 + 1_900));
          m.onEvent(lockA, ev('near_expiry', t0 + 3_600, { valueMs: 1_700 }));
          await m.whenWritten();
          const rows = await store.prisma.alert.findMany({ orderBy: { id: 'asc' } });
          expect(rows.map((r) => [r.state, r.silencedUntil])).toEqual([
            ['resolved', BigInt(t0 + 61_800)],
            ['firing', BigInt(t0 + 61_800)],
          ]);
          // Nothing beyond the first page: the resolve and the re-open were never queued.
          expect(m.delivery.pending).toBe(0);
          expect(receiver.requests).toHaveLength(1);

          const resilenced = await silenceAlert(store, { id: rows[1]!.id, forMs: 1_000, at: t0 });
          expect(resilenced.silencedUntil).toBe(t0 + 1_000);
          expect((await listAlerts(store, { source: 'redis-main' })).map((a) => a.state)).toEqual(['firing', 'resolved']);

          for (const [call, code] of [
            [() => ackAlert(store, { id: '999999', by: 'bob' }), 'NOT_FOUND'],
            [() => ackAlert(store, { id: '1; drop table', by: 'bob' }), 'BAD_REQUEST'],
            [() => ackAlert(store, { id: open!.id, by: '  ' }), 'BAD_REQUEST'],
            [() => silenceAlert(store, { id: open!.id, forMs: -5 }), 'BAD_REQUEST'],
            [() => listAlerts(store, { rule: 'nope' }), 'BAD_REQUEST'],
          ] as const) {
            const error = await call().then(() => null, (e: unknown) => e);
            expect(isLockscopeError(error, code)).toBe(true);
          }
        });
      });
    } finally {
      await receiver.close();
    }
  });

  it('slack and alertmanager formats reach their receivers; odd and huge lock names are stored and sent safely', async () => {
    const receiver = await startReceiver();
    try {
      await withStore('sqlite', async (store) => {
        const config = {
          webhooks: [
            { name: 'slack', url: `${receiver.url}/slack`, format: 'slack' as const },
            { name: 'am', url: `${receiver.url}/am`, format: 'alertmanager' as const, secret: 'am-secret' },
          ],
        };
        await withManager(store, { config }, async (m) => {
          const odd: LockRef = { lockId: 'oddid', source: 'redis-main', name: `lock:<!here>\u0000\u001b[31m${'x'.repeat(1_000_000)}` };
          const t0 = Date.now();
          m.onEvent(odd, ev('acquired', t0 - 2_000, { holder: 'h\n<@U123>' }));
          m.onEvent(odd, ev('expired', t0, { valueMs: 2_000, holder: 'h\n<@U123>' }));
          await m.whenWritten();
          const row = await store.prisma.alert.findFirstOrThrow();
          expect(row.lockName).toBe(odd.name);
          await waitFor(() => receiver.requests.length === 2, { timeoutMs: 5_000 });
          const slack = receiver.requests.find((r) => r.path === '/slack')!;
          const text = slack.body.text as string;
          expect(text).toContain('*lease_expired* firing on redis-main');
          expect(text).toContain('&lt;!here&gt;');
          expect(text).not.toContain('<!here>');
          expect(text).not.toContain('<@U123>');
          expect(text.length).toBeLessThan(1_000);
          const am = receiver.requests.find((r) => r.path === '/am')!;
          expect(verifySignature('am-secret', am)).toBe(true);
          expect(am.body).toMatchObject({ version: '4', status: 'firing', receiver: 'am' });
          const [alert] = am.body.alerts as { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; fingerprint: string }[];
          expect(alert).toMatchObject({ status: 'firing', labels: { alertname: 'lease_expired', source: 'redis-main', lock_id: 'oddid' }, startsAt: new Date(t0).toISOString(), endsAt: '0001-01-01T00:00:00Z' });
          expect(alert!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
          // A 1 MB key name is cut in the label (lock_id stays exact).
          expect(alert!.labels.lock === `${odd.name.slice(0, 1_024)}…`).toBe(true);
        });
      });
    } finally {
      await receiver.close();
    }
  });
});
