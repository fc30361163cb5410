import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcd, startRedis, waitFor, type Child, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { lockId } from '@lockscope/core';
import { migrate, openStore } from '@lockscope/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lsOutputSchema, type lockRowSchema } from './lock-row-schema.js';
import { LOCKCTL_BIN, runLockctl } from './run-lockctl.js';
import type { z } from 'zod';

type Row = z.output<typeof lockRowSchema>;

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

let etcd: EtcdServer;
let redis: RedisServer;
let dir: string;
let config: string;
let storeUrl: string;
const children: Child[] = [];

function writeConfig(path: string, body: string): string {
  writeFileSync(path, body);
  return path;
}

async function ls(extra: string[] = []): Promise<Row[]> {
  const run = await runLockctl(['ls', '--json', '--config', config, ...extra]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return lsOutputSchema.parse(JSON.parse(run.stdout));
}

/** Holds an etcd mutex with a real `etcdctl lock` and returns its owner key once acquired. */
async function etcdctlLock(name: string): Promise<{ child: Child; key: string }> {
  const child = etcd.spawnEtcdctl(['lock', name]);
  children.push(child);
  const key = await waitFor(() => child.output().split('\n').find((l) => l.startsWith(`${name}/`))?.trim(), { message: `etcdctl lock ${name} to acquire` });
  return { child, key };
}

async function createRevision(key: string): Promise<string | null> {
  const out = JSON.parse(await etcd.etcdctl(['get', key, '-w', 'json'])) as { kvs?: { create_revision: number }[] };
  return out.kvs?.[0] ? String(out.kvs[0].create_revision) : null;
}

async function keysUnder(prefix: string): Promise<string[]> {
  return (await etcd.etcdctl(['get', '--prefix', '--keys-only', prefix])).split('\n').filter((l) => l.trim() !== '');
}

beforeAll(async () => {
  // The tests run the real bundled binary, so build it first.
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/cli'], { cwd: repoRoot, stdio: 'pipe' });
  dir = mkdtempSync(join(tmpdir(), 'lockctl-it-'));
  [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
  storeUrl = `file:${join(dir, 'store.db')}`;
  await migrate(storeUrl);
  config = writeConfig(
    join(dir, 'lockscope.yaml'),
    `store: { url: "${storeUrl}" }
sources:
  - { name: etcd-main, kind: etcd, endpoints: ["${etcd.endpoints[0]}"], prefixes: ["/locks/"] }
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }
`,
  );
});

afterAll(async () => {
  try {
    await Promise.all(children.map((c) => c.stop(500)));
  } finally {
    await Promise.allSettled([etcd?.stop(), redis?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('lockctl ls --json', () => {
  it('shows locks held by etcdctl lock, SET NX PX and a Redisson hash with holder, token, TTL and waiters', async () => {
    const holder = await etcdctlLock('/locks/ls/job');
    const waiter = etcd.spawnEtcdctl(['lock', '/locks/ls/job']);
    children.push(waiter);
    await waitFor(async () => (await keysUnder('/locks/ls/job/')).length === 2, { message: 'the second etcdctl lock to queue' });
    await redis.cli(['SET', 'lock:ls:plain', 'tok-7f3a', 'NX', 'PX', '60000']);
    await redis.cli(['HSET', 'lock:ls:redisson', 'b2c6a3e0-5a5e-4b8e-9a7e-1d0c8c2f4a11:57', '1']);
    await redis.cli(['PEXPIRE', 'lock:ls:redisson', '30000']);
    // RFencedLock keeps its fencing counter beside the hash.
    await redis.cli(['SET', 'redisson_lock_token:{lock:ls:redisson}', '42']);
    // RFairLock: holder hash plus a visible FIFO queue with deadlines.
    await redis.cli(['HSET', 'lock:ls:fair', '0c8e7d7e-1111-4c2b-9c1e-3f5e2a9b7c01:12', '1']);
    await redis.cli(['PEXPIRE', 'lock:ls:fair', '30000']);
    await redis.cli(['RPUSH', 'redisson_lock_queue:{lock:ls:fair}', '0c8e7d7e-2222-4c2b-9c1e-3f5e2a9b7c01:31']);
    await redis.cli(['ZADD', 'redisson_lock_timeout:{lock:ls:fair}', String(Date.now() + 300_000), '0c8e7d7e-2222-4c2b-9c1e-3f5e2a9b7c01:31']);

    const rows = await ls();
    const byName = new Map(rows.map((r) => [r.name, r]));

    const mutex = byName.get('/locks/ls/job');
    expect(mutex).toBeDefined();
    const leaseHex = holder.key.slice('/locks/ls/job/'.length);
    expect(mutex).toMatchObject({ source: 'etcd-main', dialect: 'etcd-mutex', held: true, holder: leaseHex, token: await createRevision(holder.key), waiters: 1 });
    // etcdctl lock's session lease is 10 s (etcd may grant a little more).
    expect(mutex!.ttlMs).toBeGreaterThanOrEqual(10_000);
    expect(mutex!.ttlMs).toBeLessThanOrEqual(15_000);
    expect(mutex!.remainingMs).not.toBeNull();
    expect(mutex!.waiterQueue![0]!.token).not.toBe(mutex!.token);

    // No collector has run: a live read sees only what remains of a Redis lease, so the granted
    // TTL, and with it the lease used and near expiry, are unknown (null), not the remaining time.
    expect(byName.get('lock:ls:plain')).toMatchObject({ source: 'redis-main', dialect: 'redis-string', holder: 'tok-7f3a', token: null, waiters: null, ttlMs: null, leaseUsedRatio: null, nearExpiry: null });
    const plain = byName.get('lock:ls:plain')!;
    expect(plain.remainingMs!).toBeGreaterThan(50_000);
    expect(plain.remainingMs!).toBeLessThanOrEqual(60_000);

    expect(byName.get('lock:ls:redisson')).toMatchObject({ dialect: 'redisson', holder: 'b2c6a3e0-5a5e-4b8e-9a7e-1d0c8c2f4a11:57', token: '42', waiters: null });
    expect(byName.get('lock:ls:fair')).toMatchObject({
      dialect: 'redisson-fair',
      holder: '0c8e7d7e-1111-4c2b-9c1e-3f5e2a9b7c01:12',
      waiters: 1,
      waiterQueue: [expect.objectContaining({ holder: '0c8e7d7e-2222-4c2b-9c1e-3f5e2a9b7c01:31' })],
    });
    expect(byName.get('lock:ls:fair')!.remainingMs).not.toBeNull();
    expect(byName.get('lock:ls:redisson')!.remainingMs!).toBeLessThanOrEqual(30_000);
  });

  it('filters with --source, --match and --contended', async () => {
    await redis.cli(['SET', 'lock:filter:a', 'x', 'NX', 'PX', '60000']);
    const redisOnly = await ls(['--source', 'redis-main', '--match', 'lock:filter:*']);
    expect(redisOnly.map((r) => r.name)).toEqual(['lock:filter:a']);
    await redis.cli(['HSET', 'lock:filter:fair', 'aa11aa11-0000-4000-8000-000000000001:1', '1']);
    await redis.cli(['RPUSH', 'redisson_lock_queue:{lock:filter:fair}', 'aa11aa11-0000-4000-8000-000000000002:1']);
    const contended = await ls(['--contended', '--match', 'lock:filter:*']);
    expect(contended.map((r) => r.name)).toEqual(['lock:filter:fair']);
  });

  it('prints a table with escaped control characters for a human', async () => {
    await redis.cli(['SET', 'lock:evil:\u001b[2Jx', 'holder\r\u001b]0;pwned\u0007', 'NX', 'PX', '60000']);
    const run = await runLockctl(['ls', '--config', config, '--source', 'redis-main', '--match', 'lock:evil:*']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^SOURCE\s+NAME\s+DIALECT\s+HOLDER/);
    expect(run.stdout).toContain('lock:evil:\\e[2Jx');
    // The Redis source already escapes odd bytes in values its own way; either form is safe.
    expect(run.stdout).toMatch(/holder\\(r|x0d)\\(e|x1b)\]0;pwned\\x07/);
    expect(run.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });
  it('--watch redraws every second until interrupted, then exits 0', async () => {
    await redis.cli(['SET', 'lock:watch:a', 'w', 'NX', 'PX', '60000']);
    const child = spawn(process.execPath, [LOCKCTL_BIN, 'ls', '--watch', '--config', config, '--match', 'lock:watch:*'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Without a terminal, frames are separated instead of redrawn in place.
      await waitFor(() => (out.match(/\(Ctrl-C to stop\)/g) ?? []).length >= 3, { timeoutMs: 15_000, message: 'three frames' });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('lock:watch:a');
      expect(out).not.toContain('\u001b');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('shows keys with invalid UTF-8 and a 1 MB value safely, in the table and in JSON', async () => {
    // redis-cli arguments are text; EVAL builds the odd bytes server-side.
    await redis.cli(['EVAL', "redis.call('SET', 'lock:bin:' .. string.char(255, 27, 155) .. 'end', 'v', 'PX', 60000); redis.call('SET', 'lock:big', string.rep('x', 1048576), 'PX', 60000)", '0']);
    const rows = await ls(['--source', 'redis-main', '--match', 'lock:{bin,big}*']);
    const bin = rows.find((r) => r.name.startsWith('lock:bin:'));
    expect(bin?.keyHex).toBe(Buffer.concat([Buffer.from('lock:bin:'), Buffer.from([255, 27, 155]), Buffer.from('end')]).toString('hex'));
    const big = rows.find((r) => r.name === 'lock:big');
    expect(big?.held).toBe(true);

    const table = await runLockctl(['ls', '--config', config, '--source', 'redis-main', '--match', 'lock:{bin,big}*']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('lock:bin:\\xff\\e\\x9bend');
    expect(table.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    // The megabyte holder is cut to the column width, so the table stays readable.
    expect(Math.max(...table.stdout.split('\n').map((l) => l.length))).toBeLessThan(400);
  });
});

describe('lockctl release', () => {
  it('releases an etcdctl lock so the waiting etcdctl lock acquires, and records the audit', async () => {
    const first = await etcdctlLock('/locks/rel/job');
    const second = etcd.spawnEtcdctl(['lock', '/locks/rel/job']);
    children.push(second);
    await waitFor(async () => (await keysUnder('/locks/rel/job/')).length === 2, { message: 'the waiter to queue' });
    const token = await createRevision(first.key);

    const run = await runLockctl(['release', '/locks/rel/job', '--config', config, '--source', 'etcd-main', '--reason', 'holder pod gone (test)', '--yes', '--actor', 'it-test', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { released: boolean; token: string; audit: { to: string } };
    expect(out).toMatchObject({ released: true, token, audit: { to: 'store' } });

    expect(await createRevision(first.key)).toBeNull();
    // The waiting etcdctl acquires by itself and prints its key.
    const secondKey = await waitFor(() => second.output().split('\n').find((l) => l.startsWith('/locks/rel/job/'))?.trim(), { message: 'the waiter to acquire' });
    const after = (await ls(['--match', '/locks/rel/job'])).find((r) => r.name === '/locks/rel/job');
    expect(after?.holder).toBe(secondKey.slice('/locks/rel/job/'.length));
    expect(after?.waiters).toBe(0);

    const store = await openStore({ url: storeUrl });
    try {
      const audits = await store.listAudit({ lockName: '/locks/rel/job' });
      expect(audits).toHaveLength(1);
      expect(audits[0]).toMatchObject({ actor: 'it-test', action: 'force_release', source: 'etcd-main', token, reason: 'holder pod gone (test)', result: 'released' });
    } finally {
      await store.close();
    }
  });

  it('audit lists the records of lockctl and the dashboard, filtered by user, action and lock, quoted in the table', async () => {
    const store = await openStore({ url: storeUrl });
    try {
      const at = Date.now();
      await store.recordAudit({ at, actor: 'olga', role: 'operator', host: 'dashboard@h', action: 'force_release', source: 'etcd-main', lockName: '/locks/audit/x', holder: 'h1', token: '77', reason: 'pod gone \u001b[31m', result: 'released', target: 'lock abc' });
      await store.recordAudit({ at: at + 1, actor: 'ci-bot', role: 'operator', host: 'dashboard@h', action: 'alert_ack', source: 'etcd-main', lockName: '', reason: '', result: 'ok', target: 'alert 9' });
    } finally {
      await store.close();
    }
    const json = await runLockctl(['audit', '--config', config, '--user', 'olga', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const records = JSON.parse(json.stdout) as { actor: string; role: string | null; action: string; lockName: string; reason: string; result: string }[];
    expect(records.map((r) => [r.actor, r.role, r.action, r.lockName, r.result])).toEqual([['olga', 'operator', 'force_release', '/locks/audit/x', 'released']]);
    const byAction = JSON.parse((await runLockctl(['audit', '--config', config, '--action', 'alert_ack', '--json'])).stdout) as { actor: string }[];
    expect(byAction.map((r) => r.actor)).toEqual(['ci-bot']);
    const byLock = JSON.parse((await runLockctl(['audit', '--config', config, '--lock', '/locks/audit/x', '--json'])).stdout) as { actor: string }[];
    expect(byLock.map((r) => r.actor)).toEqual(['olga']);
    const table = await runLockctl(['audit', '--config', config, '--since', '1h']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/ci-bot\s+operator\s+alert_ack\s+alert 9/);
    expect(table.stdout).toContain('olga');
    expect(table.stdout).not.toContain('\u001b');
  });

  it('exits 4 and deletes nothing when --expect-token is stale', async () => {
    const held = await etcdctlLock('/locks/stale/job');
    const token = await createRevision(held.key);
    const run = await runLockctl(['release', '/locks/stale/job', '--config', config, '--source', 'etcd-main', '--reason', 'r', '--yes', '--expect-token', '1']);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/nothing was deleted/i);
    expect(await createRevision(held.key)).toBe(token);
  });

  it('exits 3 for a lock that is gone or was never there', async () => {
    await redis.cli(['SET', 'lock:free:a', 'tok', 'NX', 'PX', '60000']);
    await redis.cli(['DEL', 'lock:free:a']);
    const free = await runLockctl(['release', 'lock:free:a', '--config', config, '--source', 'redis-main', '--reason', 'r', '--yes']);
    expect(free.code).toBe(3);
    expect(free.stderr).toMatch(/^Error: .*lock:free:a/);
    const unknown = await runLockctl(['release', '/locks/never', '--config', config, '--source', 'etcd-main', '--reason', 'r', '--yes']);
    expect(unknown.code).toBe(3);
  });

  it('refuses without --yes when there is no terminal, and deletes nothing', async () => {
    await redis.cli(['SET', 'lock:confirm:a', 'tok-c', 'NX', 'PX', '60000']);
    const run = await runLockctl(['release', 'lock:confirm:a', '--config', config, '--source', 'redis-main', '--reason', 'r']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Refusing to release without confirmation/);
    expect((await redis.cli(['GET', 'lock:confirm:a'])).trim()).toBe('tok-c');
  });

  it('refuses without --reason or --source (exit 2), before touching anything', async () => {
    await redis.cli(['SET', 'lock:reason:a', 'tok-r', 'NX', 'PX', '60000']);
    const noReason = await runLockctl(['release', 'lock:reason:a', '--config', config, '--source', 'redis-main', '--yes']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--reason/);
    const noSource = await runLockctl(['release', 'lock:reason:a', '--config', config, '--reason', 'r', '--yes']);
    expect(noSource.code).toBe(2);
    expect((await redis.cli(['GET', 'lock:reason:a'])).trim()).toBe('tok-r');
  });

  it('releases a Redis SET NX lock and spools the audit when the store is down, shipping it on the next run', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'lockctl-spool-'));
    try {
      const deadStore = writeConfig(
        join(spoolDir, 'lockscope.yaml'),
        `store: { url: "postgresql://lockscope:x@127.0.0.1:${await freePort()}/none" }
sources:
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }
`,
      );
      await redis.cli(['SET', 'lock:spool:a', 'tok-s', 'NX', 'PX', '60000']);
      const run = await runLockctl(['release', 'lock:spool:a', '--config', deadStore, '--source', 'redis-main', '--reason', 'store down', '--yes']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/so it was saved to/);
      expect((await redis.cli(['EXISTS', 'lock:spool:a'])).trim()).toBe('0');
      const spool = join(spoolDir, '.lockscope', 'audit-spool.jsonl');
      expect(JSON.parse(readFileSync(spool, 'utf8').trim())).toMatchObject({ lockName: 'lock:spool:a', holder: 'tok-s', result: 'released', reason: 'store down' });

      // The store is back: the next run that reaches it ships the spool.
      writeConfig(deadStore, readFileSync(deadStore, 'utf8').replace(/store: .*\n/, `store: { url: "${storeUrl}" }\n`));
      const history = await runLockctl(['history', 'lock:spool:a', '--config', deadStore, '--json']);
      expect(history.stderr).toMatch(/Shipped 1 spooled audit record/);
      expect(history.code).toBe(0);
      expect(existsSync(spool)).toBe(false);
      const parsed = JSON.parse(history.stdout) as { audits: { result: string; holder: string }[] };
      expect(parsed.audits).toEqual([expect.objectContaining({ result: 'released', holder: 'tok-s' })]);
    } finally {
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });

  it('with --revoke-lease lists every key on the holder\'s lease, then revokes it', async () => {
    const held = await etcdctlLock('/locks/revoke/job');
    const leaseHex = held.key.slice('/locks/revoke/job/'.length);
    // Another key riding on the same session lease goes with it.
    await etcd.etcdctl(['put', `--lease=${leaseHex}`, '/locks/revoke-side/marker', 'x']);
    const run = await runLockctl(['release', '/locks/revoke/job', '--config', config, '--source', 'etcd-main', '--reason', 'r', '--yes', '--revoke-lease', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { leaseKeys: string[] };
    expect(out.leaseKeys).toEqual(expect.arrayContaining([held.key, '/locks/revoke-side/marker']));
    expect(run.stderr).toContain('/locks/revoke-side/marker');
    expect(await keysUnder('/locks/revoke')).toEqual([]);
  });
});

describe('unreachable sources and bad config', () => {
  it('exits 5 with a sentence when a source cannot be reached', async () => {
    const path = writeConfig(
      join(dir, 'dead.yaml'),
      `sources:
  - { name: etcd-dead, kind: etcd, endpoints: ["http://127.0.0.1:${await freePort()}"], prefixes: ["/locks/"] }
  - { name: redis-dead, kind: redis, url: "redis://127.0.0.1:${await freePort()}/0", patterns: ["lock:*"] }
`,
    );
    const list = await runLockctl(['ls', '--json', '--config', path]);
    expect(list.code).toBe(5);
    expect(list.stderr).toMatch(/etcd-dead/);
    expect(JSON.parse(list.stdout)).toMatchObject({ error: { code: 'SOURCE_UNREACHABLE' } });
    const release = await runLockctl(['release', '/locks/x', '--config', path, '--source', 'etcd-dead', '--reason', 'r', '--yes']);
    expect(release.code).toBe(5);
    const sources = await runLockctl(['sources', '--json', '--config', path]);
    expect(sources.code).toBe(5);
    expect(JSON.parse(sources.stdout)).toEqual([
      expect.objectContaining({ name: 'etcd-dead', reachable: false, fix: expect.stringMatching(/endpoints/) }),
      expect.objectContaining({ name: 'redis-dead', reachable: false, fix: expect.stringMatching(/url/) }),
    ]);
  });

  it('still lists the reachable sources when one is down, and exits 5', async () => {
    const path = writeConfig(
      join(dir, 'half.yaml'),
      `sources:
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }
  - { name: etcd-dead, kind: etcd, endpoints: ["http://127.0.0.1:${await freePort()}"], prefixes: ["/locks/"] }
`,
    );
    await redis.cli(['SET', 'lock:half:a', 'h', 'NX', 'PX', '60000']);
    const list = await runLockctl(['ls', '--json', '--config', path]);
    expect(list.code).toBe(5);
    expect(lsOutputSchema.parse(JSON.parse(list.stdout)).map((r) => r.name)).toContain('lock:half:a');
  });

  it('reports the sources, versions and Redis keyspace notifications', async () => {
    const run = await runLockctl(['sources', '--json', '--config', config]);
    expect(run.code, run.stderr).toBe(0);
    const checks = JSON.parse(run.stdout) as { name: string; reachable: boolean; version: string | null; notifications: string | null }[];
    expect(checks).toEqual([
      expect.objectContaining({ name: 'etcd-main', reachable: true, version: expect.stringMatching(/^\d+\.\d+/) }),
      expect.objectContaining({ name: 'redis-main', reachable: true, version: expect.stringMatching(/^\d+\.\d+/), notifications: expect.stringMatching(/^(on|enabled-by-lockscope)$/) }),
    ]);
  });

  it('exits 2 naming the line for an invalid config, and 2 for an unknown flag', async () => {
    const path = writeConfig(join(dir, 'bad.yaml'), 'sources:\n  - { name: x, kind: etcd, endpoints: [], prefixes: ["/"], colour: red }\n');
    const bad = await runLockctl(['ls', '--config', path]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line 2/);
    const flag = await runLockctl(['ls', '--no-such-flag', '--config', config]);
    expect(flag.code).toBe(2);
  });

  it('documents the exit codes in --help', async () => {
    const help = await runLockctl(['release', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/EXIT CODES[\s\S]*4\s+holder changed since it was observed \(nothing deleted\)/);
  });
});

describe('lockctl show and history', () => {
  it('shows the hold, token, TTL and waiter queue, and says when the store has no history', async () => {
    const held = await etcdctlLock('/locks/show/job');
    const waiter = etcd.spawnEtcdctl(['lock', '/locks/show/job']);
    children.push(waiter);
    await waitFor(async () => (await keysUnder('/locks/show/job/')).length === 2, { message: 'the waiter to queue' });
    const run = await runLockctl(['show', '/locks/show/job', '--config', config]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`holder      ${held.key.slice('/locks/show/job/'.length)}`);
    expect(run.stdout).toContain(`token       ${await createRevision(held.key)}`);
    expect(run.stdout).toMatch(/waiters\s+1, in queue order/);
    expect(run.stdout).toMatch(/Last holds: none recorded/);

    const path = writeConfig(join(dir, 'nostore.yaml'), readFileSync(config, 'utf8').replace(/store: .*\n/, `store: { url: "postgresql://u:p@127.0.0.1:${await freePort()}/x" }\n`));
    const noStore = await runLockctl(['show', '/locks/show/job', '--config', path]);
    expect(noStore.code).toBe(0);
    expect(noStore.stdout).toMatch(/Last holds: not available; the store could not be used: .*127\.0\.0\.1/);

    // ls with the store down: said once on stderr, and what only the store knows is null.
    const lsNoStore = await runLockctl(['ls', '--json', '--config', path, '--match', '/locks/show/job']);
    expect(lsNoStore.code, lsNoStore.stderr).toBe(0);
    expect(lsNoStore.stderr.match(/Warning: the store could not be read/g)).toHaveLength(1);
    expect(lsOutputSchema.parse(JSON.parse(lsNoStore.stdout))).toEqual([expect.objectContaining({ name: '/locks/show/job', held: true, acquiredAt: null, heldMs: null })]);

    const missing = await runLockctl(['show', '/locks/show/nothing', '--config', config]);
    expect(missing.code).toBe(3);
  });

  it('shows the last holds recorded by the collector, in show and history', async () => {
    await redis.cli(['SET', 'lock:hist:a', 'tok-now', 'NX', 'PX', '60000']);
    const id = lockId('redis-main', Buffer.from('lock:hist:a'));
    const t0 = Date.now() - 60_000;
    const store = await openStore({ url: storeUrl });
    try {
      await store.writeBatch({
        locks: [{ id, source: 'redis-main', name: 'lock:hist:a', rawKey: Buffer.from('lock:hist:a').toString('hex'), dialect: 'redis-string', held: true, holder: 'tok-now', holdId: 'tok-now', acquiredAt: t0 + 30_000, ttlMs: 60_000, firstSeenAt: t0, lastChangeAt: t0 + 30_000 }],
        holds: [{ lockId: id, holdKey: 'tok-old@1', holder: 'tok-old\u001b[31m', acquiredAt: t0, endedAt: t0 + 20_000, heldMs: 20_000, ttlMs: 30_000, endReason: 'expired' }],
      });
    } finally {
      await store.close();
    }
    const show = await runLockctl(['show', 'lock:hist:a', '--config', config]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/Last holds \(newest first, from the store\):[\s\S]*tok-old\\e\[31m[\s\S]*expired/);
    // The collector saw this hold begin, so show knows how long it has been held.
    expect(show.stdout).toContain(`held since  ${new Date(t0 + 30_000).toISOString()}`);

    const history = await runLockctl(['history', 'lock:hist:a', '--config', config, '--json']);
    expect(history.code, history.stderr).toBe(0);
    expect((JSON.parse(history.stdout) as { holds: unknown[] }).holds).toEqual([
      expect.objectContaining({ source: 'redis-main', holder: 'tok-old\u001b[31m', heldMs: 20_000, endReason: 'expired' }),
    ]);
    const unknown = await runLockctl(['history', 'lock:never-seen', '--config', config]);
    expect(unknown.code).toBe(3);
  });
});
