// The classic failure, end to end (issue 20): a holder (npm etcd3 Lock; a redis-py Lock)
// is frozen with SIGSTOP past its lease, a second holder acquires, the first resumes and
// writes to a resource. The resource checks fencing tokens (or does not) and reports what
// it saw to the collector's POST /v1/fencing; Lockscope records the hazards with both
// holders and tokens, and pages for the critical ones.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { startHttpServer } from './http-server.js';
import { startCollectorStack, type CollectorStack } from './test-stack.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const FENCING_TOKEN = 'fencing-secret-0123456789';

interface Worker {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  say(line: string): void;
  kill(signal: NodeJS.Signals): void;
}

function worker(command: string, args: string[]): Worker {
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out, say: (line) => child.stdin.write(`${line}\n`), kill: (signal) => child.kill(signal) };
}

/** A real npm etcd3 Lock holder that writes to `resourceUrl` with its fencing token (the key's create_revision) when told. */
function etcd3Worker(endpoints: string[], key: string, ttlSeconds: number, resourceUrl: string): Worker {
  const script = `
    import { Etcd3 } from 'etcd3';
    // A holder whose lease lapsed is what this test is about: it must live on to write.
    process.on('unhandledRejection', () => {});
    process.on('uncaughtException', () => {});
    const client = new Etcd3({ hosts: ${JSON.stringify(endpoints)} });
    const lock = client.lock(${JSON.stringify(key)}).ttl(${ttlSeconds});
    await lock.acquire();
    const token = (await client.get(${JSON.stringify(key)}).exec()).kvs[0].create_revision;
    console.log('acquired ' + token);
    process.stdin.on('data', async (d) => {
      if (!d.toString().includes('write')) return;
      const r = await fetch(${JSON.stringify(resourceUrl)}, { method: 'POST', body: JSON.stringify({ token }) });
      console.log('wrote ' + r.status);
    });
    setInterval(() => {}, 1000);
  `;
  return worker(process.execPath, ['--input-type=module', '-e', script]);
}

/**
 * The protected resource: remembers the highest token it accepted and, when `checks`,
 * refuses lower ones. Every check is reported to the collector, as a real service would.
 */
async function startResource(reportTo: () => string, source: string, lock: string): Promise<{ url: string; checks: boolean; close(): Promise<void> }> {
  let highest = -1n;
  const state = { checks: true };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      void (async () => {
        const { token } = JSON.parse(body) as { token: string };
        const t = BigInt(token);
        const accepted = !state.checks || t >= highest;
        if (accepted && t > highest) highest = t;
        const reported = await fetch(`${reportTo()}/v1/fencing`, {
          method: 'POST',
          headers: { authorization: `Bearer ${FENCING_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ source, lock, token, resource: 'orders-db', accepted, reporter: 'orders-service' }),
        });
        res.writeHead(accepted ? 200 : 409, { 'x-report': String(reported.status) }).end();
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/write`,
    get checks() {
      return state.checks;
    },
    set checks(v: boolean) {
      state.checks = v;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('safety hazards with real clients', () => {
  let etcd: EtcdServer;
  let redis: RedisServer;
  let stack: CollectorStack;
  let http: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
    stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints }, redis: { url: redis.url } });
    http = await startHttpServer('127.0.0.1:0', stack.collector.metrics, () => stack.collector.health(), {
      token: FENCING_TOKEN,
      report: (body) => stack.collector.fencingReport(body),
    });
  });

  afterAll(async () => {
    await http?.close();
    await stack?.dispose();
    await Promise.all([etcd?.stop(), redis?.stop()]);
  });

  const hazards = () => stack.store.prisma.hazard.findMany({ orderBy: { since: 'asc' } });

  it('etcd3 Lock frozen past its lease: unsafe_handover, the stale write refused and reported, then accepted where nothing checks', async () => {
    const resource = await startResource(() => http.url, 'etcd-test', '/locks/orders');
    const a = etcd3Worker(etcd.endpoints, '/locks/orders', 3, resource.url);
    let b: Worker | undefined;
    try {
      const tokenA = await waitFor(() => /acquired (\d+)/.exec(a.output())?.[1], { timeoutMs: 15_000, message: 'holder A' });
      a.say('write');
      await waitFor(() => a.output().includes('wrote 200'), { message: "A's first write" });
      a.kill('SIGSTOP');
      // The keepalives stop; the lease lapses under A.
      await waitFor(async () => (await stack.holds('etcd-test', '/locks/orders')).at(0)?.endReason === 'expired', { timeoutMs: 15_000, message: 'the lease lapsing under A' });
      b = etcd3Worker(etcd.endpoints, '/locks/orders', 10, resource.url);
      const tokenB = await waitFor(() => /acquired (\d+)/.exec(b!.output())?.[1], { timeoutMs: 15_000, message: 'holder B' });
      expect(BigInt(tokenB) > BigInt(tokenA)).toBe(true);
      b.say('write');
      await waitFor(() => b!.output().includes('wrote 200'), { message: "B's write" });

      // A wakes up believing it still holds the lock, and writes with its old token.
      a.kill('SIGCONT');
      a.say('write');
      await waitFor(() => a.output().includes('wrote 409'), { message: "A's stale write refused" });
      await stack.collector.flushNow();
      const found = await waitFor(async () => {
        const rows = await hazards();
        return rows.some((h) => h.kind === 'stale_token_refused') && rows.some((h) => h.kind === 'unsafe_handover' && h.severity === 'critical') ? rows : undefined;
      }, { message: 'unsafe_handover and stale_token_refused' });
      const handover = found.find((h) => h.kind === 'unsafe_handover')!;
      expect(JSON.parse(handover.tokens)).toEqual([tokenA, tokenB]);
      expect(JSON.parse(handover.holders)).toHaveLength(2);
      expect(JSON.parse(handover.evidence)).toMatchObject({ lapsedToken: tokenA, newToken: tokenB, signsOfLife: { token: tokenA, accepted: false, resource: 'orders-db' } });
      const refused = found.find((h) => h.kind === 'stale_token_refused')!;
      expect(refused).toMatchObject({ severity: 'info', lockName: '/locks/orders' });
      expect(JSON.parse(refused.tokens)).toEqual([tokenA, tokenB]);
      // unsafe_handover pages, through the alert rules.
      await stack.collector.alerts.whenWritten();
      expect(await stack.store.prisma.alert.count({ where: { rule: 'unsafe_handover', lockName: '/locks/orders' } })).toBe(1);

      // The same stale write to a resource that does not check: proven overlap, critical, paged.
      resource.checks = false;
      a.say('write');
      await waitFor(() => (a.output().match(/wrote 200/g) ?? []).length === 2, { message: "A's stale write accepted" });
      await stack.collector.flushNow();
      const accepted = await waitFor(async () => (await hazards()).find((h) => h.kind === 'stale_token_accepted'), { message: 'stale_token_accepted' });
      expect(accepted).toMatchObject({ severity: 'critical', until: null });
      await stack.collector.alerts.whenWritten();
      expect(await stack.store.prisma.alert.findFirst({ where: { rule: 'stale_token_accepted' } })).toMatchObject({ state: 'firing', lockName: '/locks/orders' });
      expect(await stack.collector.metrics.registry.getSingleMetricAsString('lockscope_open_hazards')).toMatch(/lockscope_open_hazards\{kind="stale_token_accepted"\} 1/);
    } finally {
      a.kill('SIGKILL');
      b?.kill('SIGKILL');
      await resource.close();
    }
  });

  it('redis-py Lock whose 2 s lease lapses while the holder is frozen, then another client acquires: unsafe_handover', async () => {
    const py = worker('/usr/bin/python3', [
      '-c',
      [
        'import redis, sys',
        `r = redis.Redis.from_url(${JSON.stringify(redis.url)})`,
        "lock = r.lock('lock:report', timeout=2)",
        'lock.acquire()',
        "print('acquired', lock.local.token.decode(), flush=True)",
        'sys.stdin.readline()',
      ].join('\n'),
    ]);
    try {
      const token = await waitFor(() => /acquired (\w+)/.exec(py.output())?.[1], { timeoutMs: 10_000, message: `redis-py acquiring: ${py.output()}` });
      py.kill('SIGSTOP');
      await waitFor(async () => (await stack.holds('redis-test', 'lock:report')).at(0)?.endReason === 'expired', { timeoutMs: 10_000, message: 'the lease lapsing' });
      await redis.cli(['SET', 'lock:report', 'second-worker', 'NX', 'PX', '10000']);
      await stack.collector.flushNow();
      const handover = await waitFor(async () => (await hazards()).find((h) => h.kind === 'unsafe_handover' && h.lockName === 'lock:report'), { message: 'unsafe_handover on the Redis lock' });
      expect(JSON.parse(handover.holders)).toEqual([token, 'second-worker']);
      expect(handover.severity).toBe('warning');
    } finally {
      py.kill('SIGKILL');
    }
  });

  it('the fencing endpoint refuses what it must', async () => {
    const post = (headers: Record<string, string>, body: string) => fetch(`${http.url}/v1/fencing`, { method: 'POST', headers, body });
    const good = JSON.stringify({ source: 'etcd-test', lock: '/locks/orders', token: '1', resource: 'r', accepted: true });
    expect((await post({ 'content-type': 'application/json' }, good)).status).toBe(401);
    expect((await post({ authorization: 'Bearer wrong-token-wrong-token', 'content-type': 'application/json' }, good)).status).toBe(401);
    const auth = { authorization: `Bearer ${FENCING_TOKEN}`, 'content-type': 'application/json' };
    expect((await post(auth, '{not json')).status).toBe(400);
    const unknown = await post(auth, JSON.stringify({ source: 'etcd-test', lock: '/locks/none', token: '1', resource: 'r', accepted: true }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'LOCK_NOT_FOUND' } });
    expect((await post(auth, JSON.stringify({ source: 'etcd-test', lock: '/locks/orders', token: '1', accepted: 'yes' }))).status).toBe(400);
    expect((await post(auth, 'x'.repeat(100_000)).catch(() => ({ status: 413 }))).status).toBe(413);
  });
});
