import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hexName, lockId } from '@lockscope/core';
import { migrate, openStore } from '@lockscope/store';
import { startEtcd, startRedis, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLockctl } from './run-lockctl.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

let etcd: EtcdServer;
let redis: RedisServer;
let dir: string;
let config: string;
let storeUrl: string;

// Two different keys that display the same: the byte 0xFF, and the four characters \xff.
const byteKey = (prefix: string) => Buffer.concat([Buffer.from(prefix), Buffer.from([0xff])]);
const textKey = (prefix: string) => Buffer.from(`${prefix}\\xff`);

beforeAll(async () => {
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/cli'], { cwd: repoRoot, stdio: 'pipe' });
  dir = mkdtempSync(join(tmpdir(), 'lockctl-names-'));
  [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
  storeUrl = `file:${join(dir, 'store.db')}`;
  await migrate(storeUrl);
  config = join(dir, 'lockscope.yaml');
  writeFileSync(
    config,
    `store: { url: "${storeUrl}" }
sources:
  - { name: etcd-main, kind: etcd, endpoints: ["${etcd.endpoints[0]}"], prefixes: ["/locks/"] }
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }
`,
  );
});

afterAll(async () => {
  await Promise.allSettled([etcd?.stop(), redis?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Whether a key exists, asked with the key's bytes built server-side (redis-cli arguments are text). */
async function redisExists(key: Buffer): Promise<boolean> {
  const lua = `return redis.call('EXISTS', string.char(${[...key].join(',')}))`;
  return (await redis.cli(['EVAL', lua, '0'])).trim() === '1';
}

describe('names that two keys display the same', () => {
  it('Redis: ls names both exact forms, release and show refuse to pick one, the hex: form picks exactly one', async () => {
    const [b, t] = [byteKey('lock:dup:'), textKey('lock:dup:')];
    await redis.cli(['EVAL', `redis.call('SET', string.char(${[...b].join(',')}), 'tok-byte', 'NX', 'PX', 60000)`, '0']);
    await redis.cli(['SET', t.toString('utf8'), 'tok-text', 'NX', 'PX', '60000']);
    expect([await redisExists(b), await redisExists(t)]).toEqual([true, true]);

    const ls = await runLockctl(['ls', '--config', config, '--source', 'redis-main', '--match', 'lock:dup:*']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(`Note: 2 different keys on redis-main show as lock:dup:\\xff; name one by its exact form: `);
    expect(ls.stdout).toContain(hexName(b));
    expect(ls.stdout).toContain(hexName(t));

    const release = await runLockctl(['release', 'lock:dup:\\xff', '--source', 'redis-main', '--reason', 'test', '--yes', '--config', config]);
    expect(release.code, release.stderr).toBe(2);
    expect(release.stderr).toContain('lock:dup:\\xff on redis-main names 2 different keys that display the same; nothing was done. Name one by its exact form:');
    expect(release.stderr).toContain(`${hexName(b)}  (raw bytes where the name shows \\xNN)`);
    expect(release.stderr).toContain(`${hexName(t)}  (the text lock:dup:\\xff as typed)`);
    expect([await redisExists(b), await redisExists(t)]).toEqual([true, true]);

    const show = await runLockctl(['show', 'lock:dup:\\xff', '--json', '--config', config]);
    expect(show.code).toBe(2);
    expect(JSON.parse(show.stdout)).toEqual({ error: { code: 'BAD_REQUEST', message: expect.stringContaining(hexName(b)) } });

    const exact = await runLockctl(['show', hexName(t), '--source', 'redis-main', '--json', '--config', config]);
    expect(exact.code, exact.stderr).toBe(0);
    expect((JSON.parse(exact.stdout) as { locks: { holder: string; keyHex: string }[] }).locks).toEqual([
      expect.objectContaining({ holder: 'tok-text', keyHex: t.toString('hex') }),
    ]);

    const byExact = await runLockctl(['release', hexName(b), '--source', 'redis-main', '--reason', 'test', '--yes', '--config', config]);
    expect(byExact.code, byExact.stderr).toBe(0);
    expect([await redisExists(b), await redisExists(t)]).toEqual([false, true]);

    // The audit names the lock as everything else does, not by the form typed.
    const store = await openStore({ url: storeUrl });
    try {
      const audits = await store.listAudit({ lockName: 'lock:dup:\\xff', source: 'redis-main' });
      expect(audits.map((a) => [a.result, a.holder])).toContainEqual(['released', 'tok-byte']);
    } finally {
      await store.close();
    }

    // With one of the two left, the shown name means that one.
    const byName = await runLockctl(['release', 'lock:dup:\\xff', '--source', 'redis-main', '--reason', 'test', '--yes', '--config', config]);
    expect(byName.code, byName.stderr).toBe(0);
    expect(await redisExists(t)).toBe(false);
  });

  it('etcd: release refuses to pick between the two, and the hex: form deletes exactly the one named', async () => {
    const client = new Etcd3({ hosts: etcd.endpoints });
    const lease = client.lease(60);
    try {
      const [b, t] = [byteKey('/locks/dup/'), textKey('/locks/dup/')];
      await lease.put(b).value('holder-byte');
      await lease.put(t).value('holder-text');

      const release = await runLockctl(['release', '/locks/dup/\\xff', '--source', 'etcd-main', '--reason', 'test', '--yes', '--config', config]);
      expect(release.code, release.stderr).toBe(2);
      expect(release.stderr).toContain(hexName(b));
      expect(release.stderr).toContain(hexName(t));
      expect(await client.get(b).string()).toBe('holder-byte');
      expect(await client.get(t).string()).toBe('holder-text');

      const byExact = await runLockctl(['release', hexName(t), '--source', 'etcd-main', '--reason', 'test', '--yes', '--config', config]);
      expect(byExact.code, byExact.stderr).toBe(0);
      expect(await client.get(t).string()).toBeNull();
      expect(await client.get(b).string()).toBe('holder-byte');
    } finally {
      await lease.revoke().catch(() => {});
      client.close();
    }
  });

  it('history and alerts --lock ask which key when the store recorded both', async () => {
    const [b, t] = [byteKey('lock:hist:'), textKey('lock:hist:')];
    const t0 = Date.now() - 60_000;
    const lock = (key: Buffer, holder: string) => ({
      id: lockId('redis-main', key), source: 'redis-main', name: 'lock:hist:\\xff', rawKey: key.toString('hex'), dialect: 'redis-string' as const,
      held: false, firstSeenAt: t0, lastChangeAt: t0 + 10_000, holder,
    });
    const store = await openStore({ url: storeUrl });
    try {
      await store.writeBatch({
        locks: [lock(b, 'h-byte'), lock(t, 'h-text')],
        holds: [
          { lockId: lockId('redis-main', b), holdKey: 'h-byte@1', holder: 'h-byte', acquiredAt: t0, endedAt: t0 + 1_000, heldMs: 1_000, ttlMs: 30_000, endReason: 'released' },
          { lockId: lockId('redis-main', t), holdKey: 'h-text@1', holder: 'h-text', acquiredAt: t0, endedAt: t0 + 2_000, heldMs: 2_000, ttlMs: 30_000, endReason: 'released' },
        ],
      });
      // Test setup only: the collector writes alerts through its own batch path.
      await store.prisma.alert.createMany({
        data: [b, t].map((key, i) => ({
          rule: 'lease_expired', lockId: lockId('redis-main', key), source: 'redis-main', lockName: 'lock:hist:\\xff', state: 'resolved',
          startedAt: BigInt(t0 + i), resolvedAt: BigInt(t0 + 5_000), message: `expired ${i}`,
        })),
      });
    } finally {
      await store.close();
    }
    const alerts = await runLockctl(['alerts', '--all', '--lock', 'lock:hist:\\xff', '--config', config]);
    expect(alerts.code).toBe(2);
    expect(alerts.stderr).toContain(`--lock lock:hist:\\xff on redis-main names 2 different keys with alerts; name one by its exact form: `);
    const oneAlert = await runLockctl(['alerts', '--all', '--lock', hexName(t), '--json', '--config', config]);
    expect(oneAlert.code, oneAlert.stderr).toBe(0);
    expect((JSON.parse(oneAlert.stdout) as { message: string }[]).map((a) => a.message)).toEqual(['expired 1']);

    const history = await runLockctl(['history', 'lock:hist:\\xff', '--config', config]);
    expect(history.code).toBe(2);
    expect(history.stderr).toContain(`lock:hist:\\xff on redis-main names 2 different keys the store recorded; name one by its exact form: `);
    const exact = await runLockctl(['history', hexName(b), '--json', '--config', config]);
    expect(exact.code, exact.stderr).toBe(0);
    expect((JSON.parse(exact.stdout) as { holds: { holder: string }[] }).holds.map((h) => h.holder)).toEqual(['h-byte']);
  });
});
