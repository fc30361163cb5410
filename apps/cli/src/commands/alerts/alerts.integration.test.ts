import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockId } from '@lockscope/core';
import { migrate, openStore, type Store } from '@lockscope/store';
import { createTestDatabase, freePort, startChild, startRedis, waitFor, type Child, type RedisServer } from '@lockscope/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLockctl, type LockctlRun } from '../../run-lockctl.js';
import { alertsOutputSchema, type AlertJson } from './alert-schema.js';

// The alerts here are recorded by the real collector binary watching a real
// Redis: lockctl must show what the collector wrote, not what a test inserted.

const repoRoot = fileURLToPath(new URL('../../../../..', import.meta.url));
const collectorBin = join(repoRoot, 'apps/collector/bin/lockscope-collector.js');

const ORDERS = 'lock:alerts:orders';
// ESC ] 0 ; sets the terminal title, BEL ends it, CR rewinds the line: printed raw they would hide "EVIL".
const HOSTILE = 'lock:alerts:\x1b]0;pwned\x07\rEVIL';

let redis: RedisServer;
let collector: Child;
let dir: string;
let config: string;
let store: Store;

/** No LOCKSCOPE_* from the developer's shell: the default actor must come from the OS. */
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKSCOPE_') && k !== 'DATABASE_URL'));

function lockctl(args: string[]): Promise<LockctlRun> {
  return runLockctl([...args, '--config', config], { env: cleanEnv });
}

async function alertsJson(args: string[] = []): Promise<AlertJson[]> {
  const run = await lockctl(['alerts', '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return alertsOutputSchema.parse(JSON.parse(run.stdout));
}

async function storedAlert(id: string) {
  const row = await store.prisma.alert.findUnique({ where: { id: BigInt(id) } });
  if (!row) throw new Error(`alert ${id} is not in the store`);
  return row;
}

/** A failed wait on the collector says what the collector printed. */
async function explained<T>(waiting: Promise<T>): Promise<T> {
  try {
    return await waiting;
  } catch (error) {
    throw new Error(`${(error as Error).message}\ncollector output:\n${collector.output()}`, { cause: error });
  }
}

beforeAll(async () => {
  // Both binaries are run exactly as users run them.
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/cli'], { cwd: repoRoot, stdio: 'pipe' });
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/collector'], { cwd: repoRoot, stdio: 'pipe' });
  dir = mkdtempSync(join(tmpdir(), 'lockctl-alerts-'));
  redis = await startRedis();
  const storeUrl = `file:${join(dir, 'store.db')}`;
  await migrate(storeUrl);
  const port = await freePort();
  config = join(dir, 'lockscope.yaml');
  writeFileSync(
    config,
    `store: { url: "${storeUrl}" }
sources:
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }
collector: { listen: "127.0.0.1:${port}" }
`,
  );
  collector = startChild(process.execPath, [collectorBin, '--config', config], { cwd: dir });
  await explained(waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (!res) return false;
      const body = (await res.json()) as { sources: { name: string; connected: boolean }[] };
      return body.sources.some((s) => s.name === 'redis-main' && s.connected);
    },
    { timeoutMs: 30_000, message: 'the collector to connect to Redis' },
  ));
  store = await openStore({ url: storeUrl });

  // Two plain SET NX PX 2000 locks nobody renews: the collector records near_expiry
  // (resolved when the lease lapses) and then an open lease_expired for each.
  await redis.cli(['SET', ORDERS, 'worker-1', 'NX', 'PX', '2000']);
  await redis.cli(['SET', HOSTILE, 'worker-2', 'NX', 'PX', '2000']);
  await explained(waitFor(
    async () =>
      (await store.prisma.alert.count({ where: { rule: 'lease_expired', state: 'firing' } })) === 2 &&
      (await store.prisma.alert.count({ where: { rule: 'near_expiry', state: 'resolved' } })) === 2,
    { timeoutMs: 15_000, message: 'the collector to record near_expiry and lease_expired for both locks' },
  ));
}, 180_000);

afterAll(async () => {
  try {
    await store?.close();
    await collector?.stop(5_000);
  } finally {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('lockctl alerts', () => {
  it('--json lists exactly the open alerts the collector recorded, as one schema-valid array', async () => {
    const alerts = await alertsJson();
    const rows = await store.prisma.alert.findMany({ where: { state: 'firing' }, orderBy: [{ startedAt: 'desc' }, { id: 'desc' }] });
    expect(alerts.map((a) => a.id)).toEqual(rows.map((r) => r.id.toString()));
    expect(alerts.map((a) => [a.rule, a.lockName]).sort()).toEqual([
      ['lease_expired', HOSTILE],
      ['lease_expired', ORDERS],
    ]);
    const orders = alerts.find((a) => a.lockName === ORDERS)!;
    const row = rows.find((r) => r.id.toString() === orders.id)!;
    expect(orders).toEqual({
      id: row.id.toString(),
      rule: 'lease_expired',
      state: 'firing',
      source: 'redis-main',
      lockId: row.lockId,
      lockName: ORDERS,
      startedAt: Number(row.startedAt),
      resolvedAt: null,
      value: row.value,
      threshold: row.threshold,
      message: row.message,
      ackedAt: null,
      ackedBy: null,
      silencedUntil: null,
    });
    // lease_expired's threshold is the TTL the hold had.
    expect(orders.threshold).toBe(2_000);
    expect(orders.lockId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  // Each run is a fresh Node process (1-3 s on this shared machine), hence the longer limit.
  it('filters by state, rule, source, lock and start time', { timeout: 120_000 }, async () => {
    const resolved = await alertsJson(['--state', 'resolved']);
    expect(resolved.map((a) => [a.rule, a.state, a.lockName]).sort()).toEqual([
      ['near_expiry', 'resolved', HOSTILE],
      ['near_expiry', 'resolved', ORDERS],
    ]);
    for (const a of resolved) {
      expect(a.resolvedAt).not.toBeNull();
      expect(a.resolvedAt!).toBeGreaterThanOrEqual(a.startedAt);
      // Timer-driven: fired at the crossing of 0.8 of the 2 s lease, before it ran out.
      expect(a.value!).toBeGreaterThanOrEqual(0.8);
      expect(a.value!).toBeLessThan(1);
      expect(a.threshold).toBe(0.8);
    }
    expect(await alertsJson(['--all'])).toHaveLength(4);
    expect((await alertsJson(['--all', '--lock', ORDERS])).map((a) => a.rule).sort()).toEqual(['lease_expired', 'near_expiry']);
    expect((await alertsJson(['--all', '--rule', 'near_expiry', '--lock', ORDERS])).map((a) => a.rule)).toEqual(['near_expiry']);
    expect(await alertsJson(['--all', '--source', 'etcd-main'])).toEqual([]);
    expect(await alertsJson(['--all', '--limit', '1'])).toHaveLength(1);

    // An alert from two days ago (more than the collector can be made to produce in a test) is outside --since 1d.
    const old = await store.prisma.alert.create({
      data: { rule: 'long_hold', source: 'redis-main', lockId: null, lockName: 'lock:alerts:old', state: 'resolved', startedAt: BigInt(Date.now() - 2 * 86_400_000), resolvedAt: BigInt(Date.now() - 86_400_000 - 60_000), value: 700_000, threshold: 600_000, message: 'held without TTL' },
    });
    try {
      expect((await alertsJson(['--all'])).map((a) => a.id)).toContain(old.id.toString());
      const recent = await alertsJson(['--all', '--since', '1d']);
      expect(recent.map((a) => a.id)).not.toContain(old.id.toString());
      expect(recent).toHaveLength(4);
    } finally {
      await store.prisma.alert.delete({ where: { id: old.id } });
    }
  });

  it('rejects an unknown rule, a bad --since and --all with --state as usage errors (exit 2)', async () => {
    const badRule = await lockctl(['alerts', '--rule', 'near-expiry']);
    expect(badRule.code).toBe(2);
    const badSince = await lockctl(['alerts', '--since', 'yesterday']);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain('--since takes a duration');
    const both = await lockctl(['alerts', '--all', '--state', 'resolved']);
    expect(both.code).toBe(2);
  });

  it('prints a table with every backend value quoted, and nothing raw reaches the terminal', async () => {
    const run = await lockctl(['alerts', '--all']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s*ID\s+RULE\s+LOCK\s+SOURCE\s+STATE\s+STARTED\s+VALUE \/ THRESHOLD\s+ACK \/ SILENCE$/);
    expect(lines).toHaveLength(5);
    expect(run.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(run.stdout).toContain('lock:alerts:\\e]0;pwned\\x07\\rEVIL');
    const ordersNear = lines.find((l) => l.includes(ORDERS) && l.includes('near_expiry'))!;
    expect(ordersNear).toMatch(/\b(8\d|9\d|100)% \/ 80%/);
    expect(lines.find((l) => l.includes(ORDERS) && l.includes('lease_expired'))).toContain('2.0s');

    // --json keeps the real name: escaped for the terminal, the same string once parsed.
    const json = await lockctl(['alerts', '--json', '--lock', HOSTILE]);
    expect(json.stdout).not.toContain('\x1b');
    expect(alertsOutputSchema.parse(JSON.parse(json.stdout)).map((a) => a.lockName)).toEqual([HOSTILE]);
  });

  it('ack records who and when in the store, and --silence sets silencedUntil', async () => {
    const [target] = await alertsJson(['--lock', ORDERS]);
    const before = Date.now();
    const run = await lockctl(['alerts', 'ack', target!.id, '--silence', '30m', '--actor', 'alice']);
    const after = Date.now();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Acknowledged alert ${target!.id} lease_expired on redis-main:${ORDERS} as alice; silenced until`);
    const row = await storedAlert(target!.id);
    expect(row.ackedBy).toBe('alice');
    expect(Number(row.ackedAt)).toBeGreaterThanOrEqual(before);
    expect(Number(row.ackedAt)).toBeLessThanOrEqual(after);
    expect(Number(row.silencedUntil) - Number(row.ackedAt)).toBe(30 * 60_000);

    // The list shows it, and the JSON carries the same facts.
    const listed = (await alertsJson(['--lock', ORDERS]))[0]!;
    expect(listed).toMatchObject({ ackedBy: 'alice', ackedAt: Number(row.ackedAt), silencedUntil: Number(row.silencedUntil) });
    const table = await lockctl(['alerts', '--lock', ORDERS]);
    expect(table.stdout).toContain(`acked by alice, silenced until ${new Date(Number(row.silencedUntil)).toISOString()}`);
  });

  it('ack without --actor records the OS user@host, and --json prints the updated alert', async () => {
    const [target] = await alertsJson(['--lock', HOSTILE]);
    const run = await lockctl(['alerts', 'ack', target!.id, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const printed = alertsOutputSchema.element.parse(JSON.parse(run.stdout));
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      // Same fallback as lockctl when the uid has no passwd entry.
    }
    expect(printed.ackedBy).toBe(`${user}@${hostname()}`);
    const row = await storedAlert(target!.id);
    expect(row.ackedBy).toBe(printed.ackedBy);
    expect(Number(row.ackedAt)).toBe(printed.ackedAt);
    // No --silence: nothing silenced.
    expect(row.silencedUntil).toBeNull();
  });

  it('silence --for sets silencedUntil without acknowledging', async () => {
    const [target] = (await alertsJson(['--all', '--rule', 'near_expiry', '--lock', ORDERS]))!;
    const before = Date.now();
    const run = await lockctl(['alerts', 'silence', target!.id, '--for', '1h']);
    const after = Date.now();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Silenced alert \d+ near_expiry on redis-main:lock:alerts:orders until \d{4}-\d\d-\d\dT/);
    const row = await storedAlert(target!.id);
    expect(Number(row.silencedUntil)).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(Number(row.silencedUntil)).toBeLessThanOrEqual(after + 3_600_000);
    expect(row.ackedAt).toBeNull();

    const missingFor = await lockctl(['alerts', 'silence', target!.id]);
    expect(missingFor.code).toBe(2);
  });

  it('an unknown id exits 3, a bad id or duration exits 2, and neither changes the store', async () => {
    const before = await store.prisma.alert.findMany({ orderBy: { id: 'asc' } });
    const unknown = await lockctl(['alerts', 'ack', '987654', '--actor', 'bob']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toBe('Error: There is no alert 987654; `lockctl alerts` lists them.\n');
    const unknownJson = await lockctl(['alerts', 'silence', '987654', '--for', '1h', '--json']);
    expect(unknownJson.code).toBe(3);
    expect(JSON.parse(unknownJson.stdout)).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('987654') } });

    const id = before[0]!.id.toString();
    const badDuration = await lockctl(['alerts', 'ack', id, '--silence', '30 minutes', '--actor', 'bob']);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toContain('--silence takes a duration like 30s, 30m, 1h or 2d');
    const tooLong = await lockctl(['alerts', 'silence', id, '--for', '45d']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('at most 30 days');
    const badId = await lockctl(['alerts', 'ack', 'abc', '--actor', 'bob']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('is not an alert id');

    expect(await store.prisma.alert.findMany({ orderBy: { id: 'asc' } })).toEqual(before);
  });

  it('exits 5 with a sentence naming the fix when the store cannot be reached', async () => {
    const deadConfig = join(dir, 'dead-store.yaml');
    writeFileSync(deadConfig, `store: { url: "postgresql://lockscope:secret@127.0.0.1:${await freePort()}/lockscope" }\nsources: []\n`);
    for (const args of [['alerts'], ['alerts', 'ack', '1', '--actor', 'bob'], ['alerts', 'silence', '1', '--for', '1h']]) {
      const run = await runLockctl([...args, '--config', deadConfig], { env: cleanEnv });
      expect(run.code, run.stderr).toBe(5);
      expect(run.stderr).toMatch(/^Error: Cannot reach the store, where the collector records alerts: .+ Check store\.url in .*dead-store\.yaml or DATABASE_URL, and that the database is up\.\n$/);
      expect(run.stderr).not.toContain('secret');
      expect(run.stdout).toBe('');
    }
    const json = await runLockctl(['alerts', '--json', '--config', deadConfig], { env: cleanEnv });
    expect(json.code).toBe(5);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
  });

  it('works the same on a PostgreSQL store: list by lock, ack with silence, unknown id', async () => {
    const db = await createTestDatabase();
    let pg: Store | undefined;
    try {
      await migrate(db.url);
      pg = await openStore({ url: db.url });
      const pgLockId = lockId('etcd-main', Buffer.from('/locks/pg/job'));
      // The columns the collector's AlertManager writes for an open alert.
      const row = await pg.prisma.alert.create({
        // The lock id the collector derives from the source and the key (lockctl finds alerts by it).
        data: { rule: 'near_expiry', source: 'etcd-main', lockId: pgLockId, lockName: '/locks/pg/job', state: 'firing', startedAt: BigInt(Date.now() - 1_000), value: 0.81, threshold: 0.8, message: 'lease 81% used', openKey: `near_expiry|${pgLockId}` },
      });
      const pgConfig = join(dir, 'pg.yaml');
      writeFileSync(pgConfig, `store: { url: "${db.url}" }\nsources: []\n`);
      const run = (args: string[]) => runLockctl([...args, '--config', pgConfig], { env: cleanEnv });

      const listed = await run(['alerts', '--json', '--lock', '/locks/pg/job']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(alertsOutputSchema.parse(JSON.parse(listed.stdout))).toEqual([expect.objectContaining({ id: row.id.toString(), rule: 'near_expiry', value: 0.81, lockName: '/locks/pg/job' })]);

      const ack = await run(['alerts', 'ack', row.id.toString(), '--silence', '2h', '--actor', 'carol']);
      expect(ack.code, ack.stderr).toBe(0);
      const after = await pg.prisma.alert.findUniqueOrThrow({ where: { id: row.id } });
      expect(after.ackedBy).toBe('carol');
      expect(Number(after.silencedUntil) - Number(after.ackedAt)).toBe(2 * 3_600_000);

      expect((await run(['alerts', 'silence', '987654', '--for', '1h'])).code).toBe(3);
    } finally {
      await pg?.close();
      await db.drop();
    }
  });
});
