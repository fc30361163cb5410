import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { displayKey, isLockscopeError, LockscopeError, LockTracker } from '@lockscope/core';
import { createTestDatabase, freePort } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';
import { findMigrationsDir, listHazards, lockRowOf, migrate, readMigrations, openStore, trackerStateOfRow, type Store, type EventRow, type HoldRow, type LockRow } from './index.js';

const storeDir = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Target {
  url: string;
  dir: string;
  cleanup(): Promise<void>;
}

/** A fresh, empty database per test: a temp SQLite file or a new PostgreSQL database. */
const targets = {
  sqlite: async (): Promise<Target> => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-store-'));
    return { url: `file:${join(dir, 'nested', 'store.db')}`, dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
  postgresql: async (): Promise<Target> => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-store-'));
    const db = await createTestDatabase();
    return {
      url: db.url,
      dir,
      cleanup: async () => {
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

async function withStore(provider: keyof typeof targets, fn: (store: Store, target: Target) => Promise<void>): Promise<void> {
  const target = await targets[provider]();
  let store: Store | undefined;
  try {
    store = await openStore({ url: target.url });
    await store.migrate();
    await fn(store, target);
  } finally {
    await store?.close();
    await target.cleanup();
  }
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function runMigrateCli(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const clean = { ...process.env };
    delete clean.DATABASE_URL;
    delete clean.LOCKSCOPE_CONFIG;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/migrate-cli.ts'], { cwd: storeDir, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const T0 = 1_795_000_000_000;

function lockRow(over: Partial<LockRow> = {}): LockRow {
  return {
    id: 'lock-a',
    source: 'etcd-main',
    name: '/locks/a',
    rawKey: Buffer.from('/locks/a').toString('hex'),
    dialect: 'etcd-mutex',
    held: true,
    holder: 'worker-1',
    token: '101',
    acquiredAt: T0,
    lastRenewedAt: T0 + 10,
    ttlMs: 30_000,
    expiresAt: T0 + 30_010,
    nearExpiryAt: T0 + 24_010,
    waiters: 2,
    waiterQueue: JSON.stringify([{ holder: 'w2', since: T0 + 1, token: '102' }]),
    holdId: 'rev:101',
    trackerState: JSON.stringify({ renewals: 1, lastSeq: 7 }),
    firstSeenAt: T0 - 5_000,
    lastChangeAt: T0 + 10,
    acquisitions: 4,
    expirations: 1,
    ...over,
  };
}

function holdRow(over: Partial<HoldRow> = {}): HoldRow {
  return {
    lockId: 'lock-a',
    holdKey: 'rev:100',
    holder: 'worker-0',
    token: '100',
    acquiredAt: T0 - 1_000,
    endedAt: T0 - 10,
    heldMs: 990,
    ttlMs: 30_000,
    waitMs: 12,
    renewals: 3,
    maxLeaseUsed: 0.42,
    nearExpiry: true,
    endReason: 'released',
    approximate: false,
    ...over,
  };
}

function eventRow(over: Partial<EventRow> = {}): EventRow {
  return { lockId: 'lock-a', source: 'etcd-main', at: T0, type: 'acquired', holder: 'worker-1', token: '101', ttlMs: 30_000, valueMs: 12, revision: '101', detail: '{"why":"test"}', ...over };
}

describe.each(['sqlite', 'postgresql'] as const)('store on %s', (provider) => {
  it('applies the migrations once, records them like prisma migrate, and a second run is a no-op', async () => {
    const target = await targets[provider]();
    try {
      const files = readMigrations(provider);
      const first = await migrate(target.url);
      expect(first.applied).toEqual(files.map((f) => f.name));
      const second = await migrate(target.url);
      expect(second.applied).toEqual([]);
      expect(second.alreadyApplied).toEqual(files.map((f) => f.name));

      const store = await openStore({ url: target.url });
      try {
        const rows = await store.prisma.$queryRawUnsafe<{ migration_name: string; checksum: string; finished_at: unknown; rolled_back_at: unknown; applied_steps_count: unknown }[]>(
          'SELECT "migration_name", "checksum", "finished_at", "rolled_back_at", "applied_steps_count" FROM "_prisma_migrations" ORDER BY "migration_name"',
        );
        expect(rows.map((r) => [r.migration_name, r.checksum])).toEqual(files.map((f) => [f.name, f.checksum]));
        for (const r of rows) {
          expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
          expect(r.finished_at).not.toBeNull();
          expect(r.rolled_back_at).toBeNull();
          expect(Number(r.applied_steps_count)).toBe(1);
        }
        // The tables exist and are empty.
        expect(await store.prisma.lock.count()).toBe(0);
        expect(await store.prisma.auditRecord.count()).toBe(0);
      } finally {
        await store.close();
      }
    } finally {
      await target.cleanup();
    }
  });

  it('two processes migrating at once: both succeed and the migration is applied exactly once', async () => {
    const target = await targets[provider]();
    try {
      let env: Record<string, string>;
      if (provider === 'sqlite') {
        // Exercise the CLI's config path too: lockscope.yaml in INIT_CWD with a relative file: URL.
        writeFileSync(join(target.dir, 'lockscope.yaml'), 'store:\n  url: "file:./data/cli.db"\n');
        env = { INIT_CWD: target.dir };
      } else {
        env = { INIT_CWD: target.dir, DATABASE_URL: target.url };
      }
      const [a, b] = await Promise.all([runMigrateCli(env), runMigrateCli(env)]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const appliedLines = [a, b].map((r) => (r.stdout.match(/^ {2}applied {2}/gm) ?? []).length);
      expect(appliedLines.sort()).toEqual([0, readMigrations(provider).length]);
      expect(a.stdout + b.stdout).toMatch(/up to date/);
      const url = provider === 'sqlite' ? `file:${join(target.dir, 'data', 'cli.db')}` : target.url;
      if (provider === 'sqlite') expect(existsSync(join(target.dir, 'data', 'cli.db'))).toBe(true);
      const store = await openStore({ url });
      try {
        const rows = await store.prisma.$queryRawUnsafe<{ n: unknown }[]>('SELECT COUNT(*) AS n FROM "_prisma_migrations"');
        expect(Number(rows[0]!.n)).toBe(readMigrations(provider).length);
      } finally {
        await store.close();
      }
    } finally {
      await target.cleanup();
    }
  });

  it('an unmigrated store says so and how to fix it', async () => {
    const target = await targets[provider]();
    try {
      const store = await openStore({ url: target.url });
      try {
        for (const attempt of [() => store.writeBatch({ events: [eventRow()] }), () => store.loadLiveLocks('etcd-main')]) {
          const error = await caught(attempt());
          expect(isLockscopeError(error, 'STORE_UNAVAILABLE')).toBe(true);
          expect((error as Error).message).toMatch(/is not migrated .*npm run db:migrate/s);
          expect((error as Error).message).not.toContain('invocation');
        }
      } finally {
        await store.close();
      }
    } finally {
      await target.cleanup();
    }
  });

  it('refuses to migrate when an applied migration file was edited', async () => {
    const target = await targets[provider]();
    try {
      const copy = join(target.dir, 'migrations');
      cpSync(findMigrationsDir(), copy, { recursive: true });
      await migrate(target.url, { migrationsDir: copy });
      const first = readMigrations(provider, copy)[0]!;
      const file = join(copy, provider, first.name, 'migration.sql');
      writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- edited after it was applied\n`);
      const error = await caught(migrate(target.url, { migrationsDir: copy }));
      expect(isLockscopeError(error, 'STORE_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toContain(first.name);
      expect((error as Error).message).toMatch(/checksum .* must not be edited/s);
    } finally {
      await target.cleanup();
    }
  });

  const hazard = {
    id: 'unsafe_handover|lock-a|1',
    kind: 'unsafe_handover' as const,
    severity: 'warning' as const,
    source: 'etcd-main',
    lockId: 'lock-a',
    lockName: '/locks/a\u202e',
    since: T0,
    until: null,
    holders: ['L1', 'L2'],
    tokens: ['5', '9'],
    detail: 'lapsed under L1',
    evidence: { gapMs: 40, nested: { ok: true } },
  };

  it('writeBatch round-trips every model and the read helpers return it', async () => {
    await withStore(provider, async (store) => {
      const sketch = new Uint8Array(256).map((_, i) => i);
      const result = await store.writeBatch({
        sources: [{ name: 'etcd-main', kind: 'etcd', connected: true, lastError: null, lastEventAt: T0, lastSeenAt: T0 + 1, ingestLagMs: 3, resumeRevision: '123456789012', lockCount: 1, updatedAt: T0 + 2 }],
        locks: [lockRow()],
        holds: [holdRow()],
        events: [eventRow(), eventRow({ at: T0 + 1, type: 'released', detail: null })],
        rollups: [{ lockId: 'lock-a', bucket: 60_000 * 29_916_666, source: 'etcd-main', acquisitions: 5, waitedAcquisitions: 2, releases: 4, expirations: 1, nearExpiries: 1, waitersMax: 3, waitersSum: 4.5, waitersSamples: 3, acqLatencySketch: sketch, holdTimeSketch: null }],
        hazards: [hazard, { ...hazard, id: 'deadlock|old', kind: 'deadlock', since: T0 - 60_000, until: T0 - 50_000 }],
      });
      expect(result).toEqual({ sources: 1, locks: 1, holdsInserted: 1, events: 2, rollups: 1, rollupHours: 0, hazards: 2 });
      // A hazard is rewritten whole when it changes (here it ends).
      await store.writeBatch({ hazards: [{ ...hazard, severity: 'critical', until: T0 + 9 }] });
      expect(await listHazards({ db: store.prisma, since: T0 - 1_000 })).toEqual([{ ...hazard, severity: 'critical', until: T0 + 9 }]);
      expect((await listHazards({ db: store.prisma, since: 0, source: 'etcd-main' })).map((h) => h.id)).toEqual([hazard.id, 'deadlock|old']);
      expect(await listHazards({ db: store.prisma, since: 0, source: 'other' })).toEqual([]);

      expect(await store.loadSourceState('etcd-main')).toEqual({ name: 'etcd-main', kind: 'etcd', connected: true, lastError: null, lastEventAt: T0, lastSeenAt: T0 + 1, ingestLagMs: 3, resumeRevision: '123456789012', lockCount: 1, updatedAt: T0 + 2 });
      expect(await store.loadSourceState('nope')).toBeNull();
      expect(await store.loadLiveLocks('etcd-main')).toEqual([lockRow()]);
      expect(await store.loadLiveLocks('other')).toEqual([]);

      const rollups = await store.loadRollups(60_000 * 29_916_666);
      expect(rollups).toHaveLength(1);
      expect(rollups[0]).toMatchObject({ lockId: 'lock-a', acquisitions: 5, waitersSum: 4.5, holdTimeSketch: null });
      expect(Array.from(rollups[0]!.acqLatencySketch!)).toEqual(Array.from(sketch));

      const holds = await store.prisma.hold.findMany();
      expect(holds).toHaveLength(1);
      expect({ ...holds[0], id: undefined }).toEqual({
        ...holdRow(),
        id: undefined,
        acquiredAt: BigInt(T0 - 1_000),
        endedAt: BigInt(T0 - 10),
      });
      const events = await store.prisma.event.findMany({ orderBy: { at: 'asc' } });
      expect(events.map((e) => [e.type, Number(e.at), e.detail, e.revision])).toEqual([
        ['acquired', T0, '{"why":"test"}', '101'],
        ['released', T0 + 1, null, '101'],
      ]);

      const audit = await store.recordAudit({ at: T0, actor: 'alice', host: 'ops-1', action: 'release', source: 'etcd-main', lockName: '/locks/a', holder: 'worker-1', token: '101', reason: 'stuck job', result: 'released' });
      expect(audit).toMatchObject({ actor: 'alice', at: T0, detail: null });
      await store.recordAudit({ at: T0 + 5, actor: 'bob', host: 'ops-2', action: 'release', source: 'redis-main', lockName: 'lock:b', reason: 'x', result: 'holder_changed', detail: 'was w9' });
      expect((await store.listAudit()).map((a) => a.actor)).toEqual(['bob', 'alice']);
      expect((await store.listAudit({ source: 'etcd-main' })).map((a) => a.actor)).toEqual(['alice']);
      expect((await store.listAudit({ since: T0 + 1 })).map((a) => a.actor)).toEqual(['bob']);
      expect(await store.listAudit({ limit: 1 })).toHaveLength(1);
    });
  });

  it('ignores duplicate holds on (lockId, holdKey), within a batch and across batches', async () => {
    await withStore(provider, async (store) => {
      const first = await store.writeBatch({ holds: [holdRow(), holdRow({ holder: 'dup-in-batch' }), holdRow({ holdKey: 'rev:200' })] });
      expect(first.holdsInserted).toBe(2);
      const second = await store.writeBatch({ holds: [holdRow({ holder: 'replayed-after-restart' }), holdRow({ holdKey: 'rev:300' })] });
      expect(second.holdsInserted).toBe(1);
      const holds = await store.prisma.hold.findMany({ orderBy: { holdKey: 'asc' } });
      expect(holds.map((h) => [h.holdKey, h.holder])).toEqual([
        ['rev:100', 'worker-0'],
        ['rev:200', 'worker-0'],
        ['rev:300', 'worker-0'],
      ]);
    });
  });

  it('a lock upsert replaces the whole live row, and the last row for a lock in a batch wins', async () => {
    await withStore(provider, async (store) => {
      await store.writeBatch({ locks: [lockRow()] });
      const released = lockRow({ held: false, holder: null, token: null, acquiredAt: null, lastRenewedAt: null, expiresAt: null, nearExpiryAt: null, waiters: 0, waiterQueue: null, holdId: null, trackerState: '{"renewals":0}', lastChangeAt: T0 + 99, acquisitions: 5 });
      await store.writeBatch({ locks: [lockRow({ holder: 'intermediate' }), released] });
      // Omitted optional fields are stored as null / their default: the row is replaced, not merged.
      await store.writeBatch({ locks: [{ id: 'lock-b', source: 'etcd-main', name: 'b', rawKey: '62', dialect: 'etcd-lease-key', firstSeenAt: T0, lastChangeAt: T0 }] });
      const locks = await store.loadLiveLocks('etcd-main');
      expect(locks).toEqual([
        released,
        { id: 'lock-b', source: 'etcd-main', name: 'b', rawKey: '62', dialect: 'etcd-lease-key', held: false, holder: null, token: null, acquiredAt: null, lastRenewedAt: null, ttlMs: null, expiresAt: null, nearExpiryAt: null, waiters: 0, waiterQueue: null, holdId: null, trackerState: null, firstSeenAt: T0, lastChangeAt: T0, acquisitions: 0, expirations: 0 },
      ]);
      expect(await store.prisma.lock.count()).toBe(2);
      // The first sighting stays the first.
      await store.writeBatch({ locks: [{ ...released, firstSeenAt: T0 + 1_000, lastChangeAt: T0 + 1_000 }] });
      expect((await store.loadLiveLocks('etcd-main'))[0]).toMatchObject({ firstSeenAt: released.firstSeenAt, lastChangeAt: T0 + 1_000 });
    });
  });

  it('a rollup upsert replaces counters and sketch bytes', async () => {
    await withStore(provider, async (store) => {
      const bucket = 60_000 * 29_916_667;
      await store.writeBatch({ rollups: [{ lockId: 'lock-a', bucket, source: 's', acquisitions: 1, acqLatencySketch: new Uint8Array([1, 2, 3]), holdTimeSketch: new Uint8Array([0]) }] });
      const bytes = new Uint8Array(4096).map((_, i) => (i * 7) % 256);
      await store.writeBatch({ rollups: [{ lockId: 'lock-a', bucket, source: 's', acquisitions: 9, acqLatencySketch: bytes, holdTimeSketch: null }] });
      const [row] = await store.loadRollups(bucket);
      expect(row!.acquisitions).toBe(9);
      expect(Buffer.from(row!.acqLatencySketch!).equals(Buffer.from(bytes))).toBe(true);
      expect(row!.holdTimeSketch).toBeNull();
      expect(await store.loadRollups(bucket + 60_000)).toEqual([]);

      // Hour rollups: same shape and rules, their own table, in the same transaction.
      const hour = 3_600_000 * 498_611;
      const result = await store.writeBatch({
        rollups: [{ lockId: 'lock-a', bucket: hour, source: 's', acquisitions: 2 }],
        rollupHours: [
          { lockId: 'lock-a', bucket: hour, source: 's', acquisitions: 5, holdTimeSketch: bytes },
          { lockId: 'lock-a', bucket: hour, source: 's', acquisitions: 7, holdTimeSketch: bytes },
        ],
      });
      expect(result).toMatchObject({ rollups: 1, rollupHours: 1 });
      const [hourRow] = await store.loadRollups(hour, 'hour');
      expect(hourRow).toMatchObject({ lockId: 'lock-a', bucket: hour, acquisitions: 7 });
      expect(Buffer.from(hourRow!.holdTimeSketch!).equals(Buffer.from(bytes))).toBe(true);
      expect((await store.loadRollups(hour)).map((r) => r.acquisitions)).toEqual([2]);
    });
  });

  it('a batch is one transaction: when a statement fails nothing of the batch is kept', async () => {
    await withStore(provider, async (store) => {
      await store.prisma.$executeRawUnsafe('DROP TABLE "Rollup"');
      const error = await caught(store.writeBatch({ events: [eventRow()], locks: [lockRow()], rollups: [{ lockId: 'x', bucket: 0, source: 's' }] }));
      expect(isLockscopeError(error, 'STORE_UNAVAILABLE')).toBe(true);
      expect(await store.prisma.event.count()).toBe(0);
      expect(await store.prisma.lock.count()).toBe(0);
    });
  });

  it('operations issued while a batch transaction is open are not swallowed by its rollback', async () => {
    await withStore(provider, async (store) => {
      const old = Array.from({ length: 40 }, (_, i) => eventRow({ at: T0 - 1_000 - i }));
      await store.writeBatch({ events: old });
      await store.prisma.$executeRawUnsafe('DROP TABLE "Rollup"');
      const events = Array.from({ length: 20_000 }, (_, i) => eventRow({ at: T0 + i }));
      const failing = store.writeBatch({ events, rollups: [{ lockId: 'x', bucket: 0, source: 's' }] });
      // Started in the same tick: with a synchronous driver the batch's
      // statements and these interleave as microtasks, so on a shared SQLite
      // connection the purge chunks would run inside the batch transaction.
      const purge = store.purgeBefore(T0, { chunkSize: 1 });
      const audit = store.recordAudit({ at: T0, actor: 'a', host: 'h', action: 'release', source: 's', lockName: 'n', reason: 'r', result: 'released' });
      const raw = store.serialized((prisma) => prisma.$executeRawUnsafe(`INSERT INTO "Source" ("name", "kind", "updatedAt") VALUES ('raw', 'etcd', 1)`));
      const [batch, purged, audited, rawWrite] = await Promise.allSettled([failing, purge, audit, raw]);
      expect(rawWrite).toEqual({ status: 'fulfilled', value: 1 });
      expect(await store.loadSourceState('raw')).toMatchObject({ name: 'raw', kind: 'etcd' });
      expect(batch.status).toBe('rejected');
      expect(purged).toEqual({ status: 'fulfilled', value: { events: 40, holds: 0, hazards: 0 } });
      expect(audited.status).toBe('fulfilled');
      expect(await store.prisma.event.count()).toBe(0);
      expect(await store.listAudit()).toHaveLength(1);
    });
  });

  it('two store handles upserting overlapping locks in opposite orders both succeed (no deadlock, no SQLITE_BUSY)', async () => {
    await withStore(provider, async (store, target) => {
      const other = await openStore({ url: target.url });
      try {
        const ids = Array.from({ length: 2_000 }, (_, i) => i);
        const rows = (round: number, order: number[]) => order.map((i) => lockRow({ id: `l${i}`, rawKey: i.toString(16).padStart(6, '0'), name: `/locks/${i}`, acquisitions: round }));
        const rounds = Array.from({ length: 6 }, (_, round) =>
          Promise.all([store.writeBatch({ locks: rows(round, ids) }), other.writeBatch({ locks: rows(round, [...ids].reverse()) })]),
        );
        await Promise.all(rounds);
        expect(await store.prisma.lock.count()).toBe(2_000);
      } finally {
        await other.close();
      }
      // Closing one handle (on SQLite they share the process's connection) leaves the other usable.
      await store.writeBatch({ sources: [{ name: 'after-close', kind: 'etcd', updatedAt: T0 }] });
      expect(await store.loadSourceState('after-close')).not.toBeNull();
    });
  });

  it('another process writing the same store at the same time: both processes land every batch', async () => {
    await withStore(provider, async (store, target) => {
      const script = `
        import { openStore } from './src/index.ts';
        const store = await openStore({ url: process.env.STORE_URL });
        for (let b = 0; b < 30; b++) {
          await store.writeBatch({
            events: Array.from({ length: 300 }, (_, i) => ({ lockId: 'child', source: 's', at: b * 1000 + i, type: 'acquired' })),
            locks: [{ id: 'shared', source: 's', name: 'child', rawKey: '00', dialect: 'd', firstSeenAt: 1, lastChangeAt: b }],
          });
        }
        await store.recordAudit({ at: 1, actor: 'child', host: 'h', action: 'release', source: 's', lockName: 'n', reason: 'r', result: 'released' });
        await store.close();
      `;
      const child = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          cwd: storeDir,
          env: { ...process.env, STORE_URL: target.url },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        proc.on('error', reject);
        proc.on('close', (code) => resolve({ code, stderr }));
      });
      // Keep writing for as long as the child runs, so the two really overlap.
      let childDone = false;
      void child.finally(() => (childDone = true));
      let batches = 0;
      while (!childDone) {
        await store.writeBatch({
          events: Array.from({ length: 300 }, (_, i) => eventRow({ lockId: 'parent', at: batches * 1000 + i })),
          locks: [lockRow({ id: 'shared', name: 'parent', lastChangeAt: batches })],
        });
        batches += 1;
        // better-sqlite3 is synchronous: give the event loop a turn to see the child exit.
        await new Promise((r) => setImmediate(r));
      }
      const { code, stderr } = await child;
      expect(code, stderr).toBe(0);
      const counts = await store.prisma.event.groupBy({ by: ['lockId'], _count: { _all: true }, orderBy: { lockId: 'asc' } });
      expect(counts.map((c) => [c.lockId, c._count._all])).toEqual([
        ['child', 9_000],
        ['parent', batches * 300],
      ]);
      expect((await store.listAudit()).map((a) => a.actor)).toEqual(['child']);
    });
  });

  it('bad values are refused before anything is written', async () => {
    await withStore(provider, async (store) => {
      const error = await caught(store.writeBatch({ events: [eventRow(), eventRow({ at: Number.NaN })] }));
      expect(isLockscopeError(error, 'BAD_REQUEST')).toBe(true);
      expect((error as Error).message).toContain('Event.at');
      const overflow = await caught(store.writeBatch({ holds: [holdRow({ heldMs: 2 ** 40 })] }));
      expect(isLockscopeError(overflow, 'BAD_REQUEST')).toBe(true);
      expect(await store.prisma.event.count()).toBe(0);
    });
  });

  it('retention purges only events and holds older than the cut, in chunks', async () => {
    await withStore(provider, async (store) => {
      const cut = T0;
      const events = [...Array.from({ length: 23 }, (_, i) => eventRow({ at: cut - 1 - i })), ...Array.from({ length: 5 }, (_, i) => eventRow({ at: cut + i }))];
      const holds = [...Array.from({ length: 11 }, (_, i) => holdRow({ holdKey: `old-${i}`, endedAt: cut - 1 - i })), ...Array.from({ length: 4 }, (_, i) => holdRow({ holdKey: `new-${i}`, endedAt: cut + i }))];
      await store.writeBatch({ events, holds, locks: [lockRow()], rollups: [{ lockId: 'lock-a', bucket: 0, source: 'etcd-main' }] });
      expect(await store.purgeBefore(cut, { chunkSize: 4 })).toEqual({ events: 23, holds: 11, hazards: 0 });
      const left = await store.prisma.event.findMany();
      expect(left.map((e) => Number(e.at)).sort()).toEqual([cut, cut + 1, cut + 2, cut + 3, cut + 4]);
      expect((await store.prisma.hold.findMany()).map((h) => h.holdKey).sort()).toEqual(['new-0', 'new-1', 'new-2', 'new-3']);
      expect(await store.prisma.lock.count()).toBe(1);
      expect(await store.prisma.rollup.count()).toBe(1);
      expect(await store.purgeBefore(cut)).toEqual({ events: 0, holds: 0, hazards: 0 });
    });
  });

  it('stores control characters, escaped non-UTF-8 names and 1 MB details safely', async () => {
    await withStore(provider, async (store) => {
      const controls = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f';
      const oddName = displayKey(new Uint8Array([0x2f, 0x6c, 0xff, 0xfe, 0xc3, 0x28, 0x0a, 0x00]));
      expect(oddName).toContain('\\xff');
      const big = 'x'.repeat(1024 * 1024 - 3) + '\u00e9\u{1f512}';
      await store.writeBatch({
        locks: [lockRow({ name: `ctl${controls}`, holder: `h${controls}` }), lockRow({ id: 'lock-odd', name: oddName, rawKey: '2f6cfffec3280a00' })],
        events: [eventRow({ detail: big, holder: `h\u0000i` })],
      });
      const locks = await store.loadLiveLocks('etcd-main');
      const ctl = locks.find((l) => l.id === 'lock-a')!;
      // U+0000 is stored as the text \x00 on both providers (PostgreSQL text cannot hold it); every other control character is kept as is.
      const expected = controls.replace('\u0000', '\\x00');
      expect(ctl.name).toBe(`ctl${expected}`);
      expect(ctl.holder).toBe(`h${expected}`);
      expect(locks.find((l) => l.id === 'lock-odd')!.name).toBe(oddName.replace('\u0000', '\\x00'));
      const [event] = await store.prisma.event.findMany();
      expect(event!.detail).toBe(big);
      expect(event!.detail!.length).toBe(big.length);
      expect(event!.holder).toBe('h\\x00i');
    });
  });

  it("a tracker's live row reads back as the state it was written from, and rows holding the whole state still read", async () => {
    await withStore(provider, async (store) => {
      const key = new Uint8Array([0x2f, 0x6c, 0x00, 0xff]);
      const tracker = LockTracker.create({ source: 'etcd-main', key, dialect: 'etcd-mutex', at: T0 }, { nearExpiryRatio: 0.8 });
      const waiter = { id: 'w\u0000b', holder: 'worker\u0000b', since: T0 + 5 };
      tracker.apply({ source: 'etcd-main', key, dialect: 'etcd-mutex', at: T0 + 5, seq: 7n, hold: null, waiters: [waiter] });
      tracker.apply({
        source: 'etcd-main', key, dialect: 'etcd-mutex', at: T0 + 9.5, seq: 9n,
        hold: { holdId: 'w\u0000b', holder: 'worker\u0000b', token: '9', ttlMs: 30_000, remainingMs: 29_000, lease: '694d', waiterId: 'w\u0000b' },
        waiters: [{ id: 'w-c', holder: 'worker-c', since: T0 + 9.5 }],
      });
      const row = lockRowOf(tracker, T0 + 100);
      expect(row.trackerState!.length).toBeLessThan(JSON.stringify(tracker.state()).length);
      await store.writeBatch({ locks: [row, { ...row, id: 'legacy', rawKey: '00', trackerState: JSON.stringify(tracker.state()) }] });
      const stored = await store.loadLiveLocks('etcd-main');
      expect(trackerStateOfRow(stored.find((r) => r.id === tracker.lockId)!)).toEqual(tracker.state());
      expect(trackerStateOfRow(stored.find((r) => r.id === 'legacy')!)).toEqual(tracker.state());
      const restored = LockTracker.restore(trackerStateOfRow(stored.find((r) => r.id === tracker.lockId)!)!, { nearExpiryRatio: 0.8 });
      expect(restored.lockId).toBe(tracker.lockId);
      expect(restored.hold?.holdId).toBe('w\u0000b');
    });
  });

  it('a large batch spans many statements and still lands in one call', async () => {
    await withStore(provider, async (store) => {
      const events = Array.from({ length: 12_345 }, (_, i) => eventRow({ at: T0 + i, lockId: `l${i % 100}` }));
      const locks = Array.from({ length: 3_000 }, (_, i) => lockRow({ id: `l${i}`, rawKey: i.toString(16).padStart(8, '0'), name: `/locks/${i}` }));
      const result = await store.writeBatch({ events, locks });
      expect(result).toMatchObject({ events: 12_345, locks: 3_000 });
      expect(await store.prisma.event.count()).toBe(12_345);
      expect(await store.prisma.lock.count()).toBe(3_000);
    });
  });
});

describe('store errors', () => {
  it('an unsupported URL is STORE_UNAVAILABLE with the fix', async () => {
    const error = await caught(openStore({ url: 'mysql://root:hunter2@127.0.0.1:3306/lockscope' }));
    expect(isLockscopeError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message).toContain('postgresql://');
  });

  it('unreachable PostgreSQL is STORE_UNAVAILABLE naming the URL without the password', async () => {
    const port = await freePort();
    const url = `postgresql://lockscope:hunter2@127.0.0.1:${port}/lockscope`;
    for (const attempt of [() => openStore({ url }), () => migrate(url)]) {
      const error = await caught(attempt());
      expect(error).toBeInstanceOf(LockscopeError);
      expect((error as LockscopeError).code).toBe('STORE_UNAVAILABLE');
      expect((error as Error).message).toContain(`127.0.0.1:${port}`);
      expect((error as Error).message).not.toContain('hunter2');
      expect((error as Error).message).toMatch(/DATABASE_URL/);
    }
  });

  it('a PostgreSQL database that does not exist is STORE_UNAVAILABLE', async () => {
    const db = await createTestDatabase();
    try {
      const missing = new URL(db.url);
      missing.pathname = `/${db.name}_missing`;
      const error = await caught(openStore({ url: missing.toString() }));
      expect(isLockscopeError(error, 'STORE_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toContain(`${db.name}_missing`);
    } finally {
      await db.drop();
    }
  });

  it('a SQLite path that is a directory is STORE_UNAVAILABLE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-store-'));
    try {
      mkdirSync(join(dir, 'is-a-dir.db'));
      for (const attempt of [() => openStore({ url: `file:${join(dir, 'is-a-dir.db')}` }), () => migrate(`file:${join(dir, 'is-a-dir.db')}`)]) {
        const error = await caught(attempt());
        expect(isLockscopeError(error, 'STORE_UNAVAILABLE')).toBe(true);
        expect((error as Error).message).toContain('is-a-dir.db');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('relative file: URLs resolve against cwd and the parent directory is created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-store-'));
    try {
      const store = await openStore({ url: 'file:./.lockscope/lockscope.db', cwd: dir });
      try {
        expect(store.provider).toBe('sqlite');
        expect(store.display).toBe(`file:${join(dir, '.lockscope', 'lockscope.db')}`);
        expect(existsSync(join(dir, '.lockscope', 'lockscope.db'))).toBe(true);
        const [mode] = await store.prisma.$queryRawUnsafe<{ journal_mode: string }[]>('PRAGMA journal_mode');
        expect(mode!.journal_mode).toBe('wal');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run db:migrate and a config file elsewhere', () => {
  it('creates a relative file: store beside the config file, as the collector, the dashboard and lockctl open it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-migrate-cli-'));
    try {
      mkdirSync(join(dir, 'conf'));
      writeFileSync(join(dir, 'conf', 'lockscope.yaml'), 'store: { url: "file:./rel.db" }\n');
      const run = await runMigrateCli({ INIT_CWD: dir, LOCKSCOPE_CONFIG: 'conf/lockscope.yaml' });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`from ${join(dir, 'conf', 'lockscope.yaml')}`);
      expect(existsSync(join(dir, 'conf', 'rel.db'))).toBe(true);
      expect(existsSync(join(dir, 'rel.db'))).toBe(false);
      expect(run.stderr).not.toContain('warning');

      // A store where earlier versions put it (npm's start directory) is named, and left alone.
      writeFileSync(join(dir, 'rel.db'), '');
      const again = await runMigrateCli({ INIT_CWD: dir, LOCKSCOPE_CONFIG: 'conf/lockscope.yaml' });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain(`an existing store at ${join(dir, 'rel.db')} (the directory npm was started from) is not opened`);
      expect(statSync(join(dir, 'rel.db')).size).toBe(0);

      const missing = await runMigrateCli({ INIT_CWD: dir, LOCKSCOPE_CONFIG: 'nowhere.yaml' });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`config file not found: ${join(dir, 'nowhere.yaml')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
