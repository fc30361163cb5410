import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockId } from '@lockscope/core';
import { migrate, openStore, type Store } from '@lockscope/store';
import { freePort, startChild, startEtcd, startRedis, waitFor, type Child, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { lsOutputSchema, type lockRowSchema } from './lock-row-schema.js';
import { runLockctl } from './run-lockctl.js';

// The lock libraries people use, really run (each in its own process), watched by the
// real collector binary, read by the real lockctl binary: what an on-call engineer sees.

type Row = z.output<typeof lockRowSchema>;

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const clientsDir = fileURLToPath(new URL('../test-clients/', import.meta.url));
const collectorBin = join(repoRoot, 'apps/collector/bin/lockscope-collector.js');

let etcd: EtcdServer;
let redis: RedisServer;
let collector: Child;
let dir: string;
let config: string;
let python: string;
let storeUrl: string;
const children: Child[] = [];
/** Every webhook notification the collector sent: alert id and status. */
const received: { id: string | null; rule: string; status: string; lockName: string | null }[] = [];
let receiver: Server;

/** A python3 that has redis-py (Debian's python3-redis); a pyenv shim on PATH may not. */
function findPythonWithRedis(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(candidate, ['-c', 'import redis'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error('These tests drive redis-py: install it with `apt-get install python3-redis` (Debian/Ubuntu).');
}

interface Held {
  child: Child;
  /** Wall ms the client reported holding the lock. */
  acquired: number;
}

type ClientKind = 'redis-py' | 'redlock' | 'redis-semaphore' | 'etcd3';

/** Starts one real client holding `name` with a `ttlMs` lease; resolves once it holds it. */
async function hold(kind: ClientKind, name: string, ttlMs: number, mode: 'acquire' | 'using' = 'acquire'): Promise<Held> {
  const node = (script: string, args: string[]) => startChild(process.execPath, [join(clientsDir, script), ...args]);
  const child =
    kind === 'redis-py'
      ? startChild(python, [join(clientsDir, 'hold-redis-py.py'), redis.url, name, String(ttlMs / 1000)])
      : kind === 'redlock'
        ? node('hold-redlock.mjs', [redis.url, name, String(ttlMs), mode])
        : kind === 'redis-semaphore'
          ? node('hold-redis-semaphore.mjs', [redis.url, name, String(ttlMs)])
          : node('hold-etcd3.mjs', [etcd.endpoints[0]!, name, String(ttlMs / 1000)]);
  children.push(child);
  const line = await waitFor(() => child.output().split('\n').find((l) => l.startsWith('{"acquired"')), {
    timeoutMs: 20_000,
    message: `${kind} to acquire ${name}\n${child.output()}`,
  });
  return { child, acquired: (JSON.parse(line) as { acquired: number }).acquired };
}

async function lsJson(args: string[]): Promise<Row[]> {
  const run = await runLockctl(['ls', '--json', '--config', config, ...args]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toBe('');
  return lsOutputSchema.parse(JSON.parse(run.stdout));
}

/** Resolves at wall time `at` (a point in a lease, not a wait for a condition: the lease is the clock). */
function until(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

beforeAll(async () => {
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/cli'], { cwd: repoRoot, stdio: 'pipe' });
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/collector'], { cwd: repoRoot, stdio: 'pipe' });
  python = findPythonWithRedis();
  dir = mkdtempSync(join(tmpdir(), 'lockctl-clients-'));
  [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
  storeUrl = `file:${join(dir, 'store.db')}`;
  await migrate(storeUrl);
  const port = await freePort();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const { alert } = JSON.parse(body) as { alert: { id: string | null; rule: string; status: string; lockName: string | null } };
      received.push({ id: alert.id, rule: alert.rule, status: alert.status, lockName: alert.lockName });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  config = join(dir, 'lockscope.yaml');
  writeFileSync(
    config,
    `store: { url: "${storeUrl}" }
sources:
  - { name: etcd-main, kind: etcd, endpoints: ["${etcd.endpoints[0]}"], prefixes: ["/locks/"] }
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*", "mutex:*"] }
collector: { listen: "127.0.0.1:${port}" }
alerts: { webhooks: [{ name: test-receiver, url: "${hook}" }] }
`,
  );
  collector = startChild(process.execPath, [collectorBin, '--config', config], { cwd: dir });
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (!res) return false;
      const body = (await res.json()) as { sources: { name: string; connected: boolean }[] };
      return body.sources.filter((s) => s.connected).length === 2;
    },
    { timeoutMs: 30_000, message: `the collector to connect to etcd and Redis\n${collector?.output()}` },
  );
}, 180_000);

afterAll(async () => {
  try {
    for (const c of children) c.kill('SIGCONT');
    await Promise.all(children.map((c) => c.stop(1_000)));
    await collector?.stop(5_000);
    await new Promise((resolve) => receiver?.close(resolve));
  } finally {
    await Promise.allSettled([etcd?.stop(), redis?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('lockctl ls with the real lock libraries', () => {
  // Long enough that a lockctl run slowed by a busy machine still reads before expiry.
  const TTL = 60_000;
  const cases: { kind: ClientKind; name: string; lockName: string }[] = [
    { kind: 'redis-py', name: 'lock:clients:py', lockName: 'lock:clients:py' },
    { kind: 'redlock', name: 'lock:clients:redlock', lockName: 'lock:clients:redlock' },
    { kind: 'redis-semaphore', name: 'clients:semaphore', lockName: 'mutex:clients:semaphore' },
    { kind: 'etcd3', name: '/locks/clients/etcd3-job', lockName: '/locks/clients/etcd3-job' },
  ];

  it(
    'at 90 % of a lease nobody renews: the granted TTL, lease used, near expiry and how long it has been held',
    { timeout: 240_000 },
    async () => {
      // How long lockctl takes from launch to its read of the backends, on this machine now.
      const launched = Date.now();
      const warm = await runLockctl(['ls', '--json', '--config', config]);
      expect(warm.code, warm.stderr).toBe(0);
      const firstLead = Math.max(...lsOutputSchema.parse(JSON.parse(warm.stdout)).map((r) => r.observedAt - launched), warm.ms * 0.6);

      /**
       * One `ls --json` (with `extra` flags) once `target` of the lease is used. A lockctl run on
       * this shared machine can take seconds before it reads, so a run that read too early (by
       * the truth: the client's own acquisition time) is repeated, aimed by its own delay.
       */
      async function readAt(c: (typeof cases)[number], held: Held, target: number, extra: string[] = [], startLead = firstLead) {
        let lead = startLead;
        const runs: string[] = [];
        for (;;) {
          await until(held.acquired + target * TTL - lead);
          const launchedAt = Date.now();
          const row = (await lsJson([...extra, '--match', c.lockName])).find((r) => r.name === c.lockName);
          const endedAt = Date.now();
          runs.push(`run ${launchedAt - held.acquired}..${endedAt - held.acquired} ms into the lease${row ? `, read at ${row.observedAt - held.acquired}` : ', not listed'}`);
          if (!row) {
            // An empty --near-expiry listing says nothing when the run may have read before the mark.
            if ((launchedAt - held.acquired) / TTL < target - 0.03) {
              lead = endedAt - launchedAt;
              continue;
            }
            return { row, used: null, lead, runs };
          }
          lead = Math.max(0, row.observedAt - launchedAt);
          const used = (row.observedAt - held.acquired) / TTL;
          if (used >= target - 0.03) return { row, used, lead, runs };
        }
      }

      // Staggered, so the lockctl runs of different clients do not all land at once.
      const results = await Promise.all(
        cases.map(async (c, i) => {
          await until(launched + i * 5_500);
          const held = await hold(c.kind, c.name, TTL);
          // Frozen right after acquiring: no refresh, no keepalive (redis-semaphore and etcd3 would renew).
          held.child.kill('SIGSTOP');
          const half = await readAt(c, held, 0.5);
          // `ls --near-expiry --json`: listed at all proves the filter, and the row is ls --json's.
          // Aimed by how long the last run took to read: on this shared machine, seconds.
          const late = await readAt(c, held, 0.88, ['--near-expiry'], half.lead);
          held.child.kill('SIGKILL');
          return { c, held, half: half.row, late: late.row, lateUsed: late.used, runs: [...half.runs, ...late.runs] };
        }),
      );

      for (const { c, held, half, late, lateUsed, runs } of results) {
        const what = `${c.kind} (${c.lockName}; ${runs.join('; ')})`;
        expect(half, `${what} at 50 %`).toBeDefined();
        expect(half!.ttlMs, `${what} granted TTL at 50 %`).toBeGreaterThanOrEqual(TTL - 50);
        expect(half!.ttlMs!, what).toBeLessThanOrEqual(TTL + 50);
        expect(half!.nearExpiry, `${what} is not near expiry at half its lease`).toBe(false);
        expect(half!.leaseUsedRatio!, what).toBeLessThan(0.8);

        expect(late, `${what} listed by ls --near-expiry at 90 %`).toBeDefined();
        // Lease used is exact: what the client's own clock says, to the read.
        expect(Math.abs(late!.leaseUsedRatio! - lateUsed!), `${what} lease used against the truth`).toBeLessThanOrEqual(0.01);
        expect(late!.ttlMs!, `${what} granted TTL`).toBeGreaterThanOrEqual(TTL - 50);
        expect(late!.ttlMs!, what).toBeLessThanOrEqual(TTL + 50);
        expect(late!.leaseUsedRatio!, `${what} lease used`).toBeGreaterThanOrEqual(0.85);
        expect(late!.nearExpiry, what).toBe(true);
        expect(Math.abs(late!.acquiredAt! - held.acquired), `${what} start of the hold`).toBeLessThanOrEqual(100);
        expect(Math.abs(late!.heldMs! - (late!.observedAt - held.acquired)), `${what} held time`).toBeLessThanOrEqual(100);
      }
    },
  );

  it('a lock free now: show prints it free with the holds the collector recorded (exit 0), ls --all lists it', { timeout: 60_000 }, async () => {
    const name = 'lock:clients:gone';
    const held = await hold('redis-py', name, 2_000);
    held.child.kill('SIGSTOP');
    // The lease lapses; the collector records the hold as expired.
    await waitFor(
      async () => {
        const run = await runLockctl(['history', name, '--json', '--config', config]);
        return run.code === 0 && (JSON.parse(run.stdout) as { holds: { endReason: string }[] }).holds.some((h) => h.endReason === 'expired');
      },
      { timeoutMs: 30_000, intervalMs: 500, message: `the collector to record the expired hold of ${name}` },
    );
    held.child.kill('SIGKILL');

    const show = await runLockctl(['show', name, '--config', config]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('free (no holder)');
    expect(show.stdout).toMatch(/Last holds \(newest first, from the store\):[\s\S]*expired/);
    const json = await runLockctl(['show', name, '--json', '--config', config]);
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { locks: Row[] }).locks).toEqual([expect.objectContaining({ name, held: false, holder: null, nearExpiry: false })]);

    expect(await lsJson(['--match', name])).toEqual([]);
    expect(await lsJson(['--all', '--match', name])).toEqual([expect.objectContaining({ name, source: 'redis-main', held: false, ttlMs: null })]);
    // A name neither the backends nor the store know is still "not found".
    expect((await runLockctl(['show', 'lock:clients:never', '--config', config])).code).toBe(3);
  });
});

describe('near_expiry with the real renewing clients at their defaults', () => {
  it(
    'redis-semaphore Mutex and redlock using() held a minute never page; frozen with SIGSTOP they page before the lease lapses, once',
    { timeout: 200_000 },
    async () => {
      const semName = 'mutex:clients:renewing';
      const usingName = 'lock:clients:using';
      // redis-semaphore's default lockTimeout (10 s, refreshed every 8 s); redlock using() with a
      // 5 s lease extends 500 ms (plus drift) before it lapses.
      const [sem, red] = await Promise.all([hold('redis-semaphore', 'clients:renewing', 10_000), hold('redlock', usingName, 5_000, 'using')]);
      const store: Store = await openStore({ url: storeUrl });
      try {
        const ids = [lockId('redis-main', Buffer.from(semName)), lockId('redis-main', Buffer.from(usingName))];
        const nearAlerts = () => store.prisma.alert.findMany({ where: { rule: 'near_expiry', lockId: { in: ids } } });

        // A minute of healthy renewals (the clients' own schedule is the clock here).
        await until(Math.max(sem.acquired, red.acquired) + 60_000);
        const rows = await lsJson(['--match', '{mutex:clients:renewing,lock:clients:using}']);
        expect(rows.map((r) => r.name).sort()).toEqual([usingName, semName]);
        for (const r of rows) {
          // Held far past its TTL: it really renewed all along.
          expect(r.heldMs!, r.name).toBeGreaterThan(55_000);
          expect(r.held, r.name).toBe(true);
        }
        expect(await nearAlerts()).toEqual([]);
        expect(received.filter((n) => n.lockName === semName || n.lockName === usingName)).toEqual([]);

        // Frozen: no more renewals. The leases lapse at most one TTL later.
        const frozenAt = Date.now();
        sem.child.kill('SIGSTOP');
        red.child.kill('SIGSTOP');
        const fired = await waitFor(async () => {
          const a = await nearAlerts();
          return a.length === 2 ? a : undefined;
        }, { timeoutMs: 20_000, intervalMs: 100, message: `near_expiry for both frozen holders\n${collector.output()}` });
        const ended = await waitFor(async () => {
          const h = await store.prisma.hold.findMany({ where: { lockId: { in: ids }, endReason: 'expired' } });
          return h.length === 2 ? h : undefined;
        }, { timeoutMs: 20_000, intervalMs: 100, message: 'both leases to lapse' });
        for (const alert of fired) {
          const hold = ended.find((h) => h.lockId === alert.lockId)!;
          expect(Number(alert.startedAt), alert.lockName!).toBeGreaterThan(frozenAt);
          // Before the lease ran out, with time to spare.
          expect(Number(alert.startedAt), alert.lockName!).toBeLessThan(Number(hold.endedAt) - 100);
          // Exactly one firing notification per alert reached the webhook.
          await waitFor(() => received.some((n) => n.id === String(alert.id) && n.status === 'firing'), { message: `the webhook for ${alert.lockName}` });
        }
        const perAlert = new Map<string, number>();
        for (const n of received) perAlert.set(`${n.id}|${n.status}`, (perAlert.get(`${n.id}|${n.status}`) ?? 0) + 1);
        expect([...perAlert.entries()].filter(([, count]) => count > 1)).toEqual([]);
      } finally {
        await store.close();
        for (const c of [sem.child, red.child]) c.kill('SIGKILL');
      }
    },
  );
});

describe('npm etcd3 Election', () => {
  it('three candidates are one lock: one leader with its proclaimed value, two waiters; leadership changes are holds', { timeout: 120_000 }, async () => {
    const name = '/locks/election/jobs-leader';
    const keys = async () => (await etcd.etcdctl(['get', '--prefix', '--keys-only', `${name}/`])).split('\n').filter((l) => l.trim() !== '');
    const candidates: Child[] = [];
    for (const value of ['cand-1', 'cand-2', 'cand-3']) {
      const child = startChild(process.execPath, [join(clientsDir, 'campaign-etcd3.mjs'), etcd.endpoints[0]!, 'jobs-leader', value]);
      children.push(child);
      candidates.push(child);
      // One at a time, so the campaign order (create_revision) is the start order.
      await waitFor(async () => (await keys()).length === candidates.length, { message: `${value} to campaign\n${child.output()}` });
    }
    await waitFor(() => candidates[0]!.output().includes('"proclaimed"'), { message: `cand-1 to lead and proclaim\n${candidates[0]!.output()}` });
    // Keys carry the lease id in decimal: not Go's hex.
    expect((await keys())[0]).toMatch(/\/\d+$/);

    const election = async () => (await lsJson(['--match', '/locks/election/**'])).filter((r) => r.name.startsWith('/locks/election/'));
    const first = await waitFor(async () => {
      const rows = await election();
      return rows.length === 1 && rows[0]!.holder?.includes('cand-1:leading') ? rows : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, message: 'one election led by cand-1' });
    expect(first[0]).toMatchObject({ name, dialect: 'etcd-mutex', held: true, waiters: 2 });
    expect(first[0]!.waiterQueue!.map((w) => w.holder)).toEqual([expect.stringContaining('(cand-2)'), expect.stringContaining('(cand-3)')]);
    // Candidates are waiters, not locks of their own.
    expect(first.filter((r) => r.held)).toHaveLength(1);

    // The leader resigns: cand-2 leads.
    candidates[0]!.kill('SIGTERM');
    await waitFor(() => candidates[1]!.output().includes('"proclaimed"'), { message: `cand-2 to lead\n${candidates[1]!.output()}` });
    const second = await waitFor(async () => {
      const rows = await election();
      return rows.length === 1 && rows[0]!.holder?.includes('cand-2:leading') ? rows : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, message: 'cand-2 leading' });
    expect(second[0]).toMatchObject({ waiters: 1 });

    // The collector recorded cand-1's leadership as a completed hold of this one lock.
    const history = await waitFor(async () => {
      const run = await runLockctl(['history', name, '--json', '--config', config]);
      if (run.code !== 0) return undefined;
      const holds = (JSON.parse(run.stdout) as { holds: { holder: string | null; endReason: string }[] }).holds;
      return holds.length > 0 ? holds : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, message: 'the first leadership in the history' });
    expect(history).toEqual([expect.objectContaining({ holder: expect.stringContaining('cand-1'), endReason: 'released' })]);
    for (const c of candidates) await c.stop(2_000);
  });
});
