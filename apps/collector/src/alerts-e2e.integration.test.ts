import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { holdEtcd3Lock, startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setNxPxAt, startCollectorStack, type CollectorStack } from './test-stack.js';

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { event: string; alert: { rule: string; lockName: string | null; startedAt: string; key: string } };
  at: number;
}

async function startReceiver() {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      requests.push({ headers: req.headers, raw, body: JSON.parse(raw) as Received['body'], at: Date.now() });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}/hook`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const SECRET = 'e2e-secret';

function signedWith(secret: string, r: Received): boolean {
  const header = String(r.headers['x-lockscope-signature'] ?? '');
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(Buffer.from(r.raw, 'utf8')).digest('hex')}`);
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), expected);
}

describe('alerts through the collector (real Redis and etcd)', () => {
  let redis: RedisServer;
  let etcd: EtcdServer;
  let stack: CollectorStack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    [redis, etcd, receiver] = await Promise.all([startRedis(), startEtcd(), startReceiver()]);
    stack = await startCollectorStack({
      redis: { url: redis.url },
      etcd: { endpoints: etcd.endpoints },
      yaml: `alerts: { webhooks: [{ name: e2e, url: ${JSON.stringify(receiver.url)}, secret: ${SECRET} }] }\n`,
    });
  });

  afterAll(async () => {
    await stack?.dispose();
    await Promise.all([redis?.stop(), etcd?.stop(), receiver?.close()]);
  });

  it('SET NX PX 2000 never renewed: near_expiry 1.6-2.0 s after acquisition, then lease_expired, both delivered signed', async () => {
    const acquiredAt = await setNxPxAt(redis, 'lock:e2e', 'tok-1', 2000);
    const got = await waitFor(() => {
      const mine = receiver.requests.filter((r) => r.body.alert.lockName === 'lock:e2e' && r.body.event === 'alert.firing');
      return mine.length >= 2 ? mine : undefined;
    }, { timeoutMs: 8_000, message: 'two firing notifications' });
    expect(got.map((r) => r.body.alert.rule)).toEqual(['near_expiry', 'lease_expired']);
    for (const r of got) expect(signedWith(SECRET, r)).toBe(true);
    const nearAt = Date.parse(got[0]!.body.alert.startedAt);
    // Measured from Redis's own clock at the SET: the true acquisition.
    // Redis keeps expiry in whole milliseconds (from its truncated clock): allow that 1 ms.
    expect(nearAt - acquiredAt).toBeGreaterThanOrEqual(1_599);
    expect(nearAt - acquiredAt).toBeLessThanOrEqual(2_000);
    const rows = await stack.store.prisma.alert.findMany({ where: { lockName: 'lock:e2e' }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [r.rule, r.state])).toEqual([
      ['near_expiry', 'resolved'],
      ['lease_expired', 'firing'],
    ]);
    expect(await stack.collector.metrics.registry.getSingleMetricAsString('lockscope_open_alerts')).toMatch(/lockscope_open_alerts\{rule="lease_expired"\} [1-9]/);
  });

  /** Acquisitions the collector has processed for a lock (from /metrics, independent of store flushes). */
  async function acquisitions(source: string, lock: string): Promise<number> {
    const metric = await stack.collector.metrics.acquisitions.get();
    return metric.values.find((v) => v.labels.source === source && v.labels.lock === lock)?.value ?? 0;
  }

  it('renewed by PEXPIRE every 500 ms: no alert', async () => {
    expect((await redis.cli(['SET', 'lock:renewed-e2e', 'tok-2', 'NX', 'PX', '2000'])).trim()).toBe('OK');
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 500));
      expect((await redis.cli(['PEXPIRE', 'lock:renewed-e2e', '2000'])).trim()).toBe('1');
    }
    await redis.cli(['DEL', 'lock:renewed-e2e']);
    expect(await acquisitions('redis-test', 'lock:renewed-e2e')).toBe(1);
    await stack.collector.alerts.whenWritten();
    expect(await stack.store.prisma.alert.count({ where: { lockName: 'lock:renewed-e2e' } })).toBe(0);
    expect(receiver.requests.filter((r) => r.body.alert.lockName === 'lock:renewed-e2e')).toEqual([]);
  });

  it('etcd mutex: one slow wait does not fire slow_acquisition; eight do', async () => {
    const slowWait = async (name: string) => {
      const before = await acquisitions('etcd-test', name);
      const holder = etcd.spawnEtcdctl(['lock', name]);
      await waitFor(() => holder.output().includes(name), { timeoutMs: 5_000, message: 'first holder' });
      const waiter = etcd.spawnEtcdctl(['lock', name, 'true']);
      // Real time for the waiter to wait: the holder keeps the lock for 300 ms.
      await new Promise((r) => setTimeout(r, 300));
      await holder.stop();
      await waiter.exited;
      await waitFor(async () => (await acquisitions('etcd-test', name)) >= before + 2, { timeoutMs: 5_000, message: 'both acquisitions seen' });
    };
    await slowWait('/locks/one-slow');
    await stack.collector.alerts.whenWritten();
    expect(await stack.store.prisma.alert.count({ where: { rule: 'slow_acquisition' } })).toBe(0);

    for (let i = 0; i < 8; i++) await slowWait('/locks/eight-slow');
    const alert = await waitFor(() => stack.store.prisma.alert.findFirst({ where: { rule: 'slow_acquisition' } }).then((r) => r ?? undefined), { timeoutMs: 10_000 });
    expect(alert.lockName).toBe('/locks/eight-slow');
    expect(alert.value).toBeGreaterThan(200);
  });

  it('etcd lease kept alive for three TTLs: no alert; keepalives frozen: near_expiry before the lease expires, then lease_expired', async () => {
    const holder = holdEtcd3Lock(etcd.endpoints, '/locks/kept', 3);
    try {
      await waitFor(() => holder.output().includes('acquired'), { timeoutMs: 10_000, message: 'the etcd3 lock' });
      await waitFor(async () => (await acquisitions('etcd-test', '/locks/kept')) === 1, { message: 'acquisition seen' });
      // Three TTLs of real keepalives.
      await new Promise((r) => setTimeout(r, 9_000));
      await stack.collector.alerts.whenWritten();
      expect(await stack.store.prisma.alert.count({ where: { lockName: '/locks/kept' } })).toBe(0);
      const frozenAt = Date.now();
      holder.kill('SIGSTOP');
      const got = await waitFor(() => {
        const mine = receiver.requests.filter((r) => r.body.alert.lockName === '/locks/kept' && r.body.event === 'alert.firing');
        return mine.length >= 2 ? mine : undefined;
      }, { timeoutMs: 10_000, message: 'near_expiry and lease_expired' });
      expect(got.map((r) => r.body.alert.rule)).toEqual(['near_expiry', 'lease_expired']);
      const nearAt = Date.parse(got[0]!.body.alert.startedAt);
      const expiredAt = Date.parse(got[1]!.body.alert.startedAt);
      expect(nearAt).toBeGreaterThanOrEqual(frozenAt);
      expect(nearAt).toBeLessThan(expiredAt);
      // The last keepalive was at most ~1 s (TTL/3) before the freeze: the page comes before the 3 s lease is gone.
      expect(nearAt - frozenAt).toBeLessThan(3_000);
      for (const r of got) expect(signedWith(SECRET, r)).toBe(true);
      // Healthy sources all along: no source_down.
      expect(await stack.store.prisma.alert.count({ where: { rule: 'source_down' } })).toBe(0);
    } finally {
      holder.kill('SIGKILL');
      await holder.exited;
    }
  });
});
