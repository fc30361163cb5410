// Write-path benchmark: `npx tsx packages/store/src/bench-write.ts [sqlite|postgresql]`.
// SQLite uses a temp file; PostgreSQL a fresh database from @lockscope/testing
// (LOCKSCOPE_TEST_PG_URL or postgresql://postgres@127.0.0.1:5432). Prints rows/s.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@lockscope/testing';
import { openStore, type Store } from './store.js';
import type { EventRow, HoldRow, LockRow, RollupRow } from './types.js';

const EVENTS = 100_000;
const EVENT_BATCH = 2_000;
const LOCKS = 5_000;
const LOCK_ROUNDS = 10;
const LOCK_BATCH = 1_000;
/** One 100 ms flush at 5,000 acquisitions/s. */
const ACQ_PER_FLUSH = 500;
const FLUSHES = 60;

function event(i: number, t0: number): EventRow {
  return { lockId: `lock-${i % LOCKS}`, source: 'bench', at: t0 + i, type: i % 2 ? 'released' : 'acquired', holder: `worker-${i % 97}`, token: String(i), ttlMs: 30_000, valueMs: i % 50 };
}

function lock(i: number, round: number, t0: number): LockRow {
  return {
    id: `lock-${i}`,
    source: 'bench',
    name: `/locks/job-${i}`,
    rawKey: Buffer.from(`/locks/job-${i}`).toString('hex'),
    dialect: 'etcd-mutex',
    held: round % 2 === 0,
    holder: `worker-${(i + round) % 97}`,
    token: String(round * LOCKS + i),
    acquiredAt: t0 + round,
    lastRenewedAt: t0 + round,
    ttlMs: 30_000,
    expiresAt: t0 + round + 30_000,
    waiters: round % 3,
    waiterQueue: '[]',
    holdId: `rev:${round * LOCKS + i}`,
    trackerState: JSON.stringify({ renewals: round, waitStart: null, lastSeq: round * LOCKS + i }),
    firstSeenAt: t0,
    lastChangeAt: t0 + round,
    acquisitions: round,
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function bench(store: Store): Promise<void> {
  const t0 = Date.now();
  const rate = (rows: number, msTaken: number) => `${Math.round((rows / msTaken) * 1000).toLocaleString('en-US')} rows/s`;

  const eventsMs = await timed(async () => {
    for (let i = 0; i < EVENTS; i += EVENT_BATCH) {
      await store.writeBatch({ events: Array.from({ length: EVENT_BATCH }, (_, k) => event(i + k, t0)) });
    }
  });
  console.log(`  events append     ${EVENTS} rows in batches of ${EVENT_BATCH}: ${eventsMs.toFixed(0)} ms, ${rate(EVENTS, eventsMs)}`);

  const lockRows = LOCKS * LOCK_ROUNDS;
  const locksMs = await timed(async () => {
    for (let round = 0; round < LOCK_ROUNDS; round++) {
      for (let i = 0; i < LOCKS; i += LOCK_BATCH) {
        await store.writeBatch({ locks: Array.from({ length: LOCK_BATCH }, (_, k) => lock(i + k, round, t0)) });
      }
    }
  });
  console.log(`  lock upserts      ${lockRows} rows (${LOCKS} locks x ${LOCK_ROUNDS}) in batches of ${LOCK_BATCH}: ${locksMs.toFixed(0)} ms, ${rate(lockRows, locksMs)}`);

  // A collector flush at 5,000 acquisitions/s: each acquisition ends one hold,
  // writes an acquired and a released event and touches its lock's live row.
  const flushTimes: number[] = [];
  let rows = 0;
  for (let f = 0; f < FLUSHES; f++) {
    const base = f * ACQ_PER_FLUSH;
    const events: EventRow[] = [];
    const holds: HoldRow[] = [];
    const locks: LockRow[] = [];
    const rollups: RollupRow[] = [];
    for (let k = 0; k < ACQ_PER_FLUSH; k++) {
      const n = base + k;
      events.push(event(2 * n, t0), event(2 * n + 1, t0));
      holds.push({ lockId: `lock-${n % LOCKS}`, holdKey: `rev:${n}`, holder: `worker-${n % 97}`, token: String(n), acquiredAt: t0 + n, endedAt: t0 + n + 5, heldMs: 5, ttlMs: 30_000, waitMs: 1, endReason: 'released', maxLeaseUsed: 0.01 });
      locks.push(lock(n % LOCKS, 100 + f, t0));
    }
    for (let k = 0; k < 200; k++) rollups.push({ lockId: `lock-${k}`, bucket: 60_000 * Math.floor(t0 / 60_000), source: 'bench', acquisitions: f, acqLatencySketch: new Uint8Array(120).fill(k % 256), holdTimeSketch: new Uint8Array(120) });
    const batchRows = events.length + holds.length + locks.length + rollups.length;
    flushTimes.push(await timed(async () => void (await store.writeBatch({ events, holds, locks, rollups }))));
    rows += batchRows;
  }
  const total = flushTimes.reduce((a, b) => a + b, 0);
  const sorted = [...flushTimes].sort((a, b) => a - b);
  console.log(
    `  collector flushes ${FLUSHES} x (${ACQ_PER_FLUSH * 2} events + ${ACQ_PER_FLUSH} holds + ${ACQ_PER_FLUSH} lock upserts + 200 rollups): ` +
      `median ${sorted[Math.floor(FLUSHES / 2)]!.toFixed(1)} ms, max ${sorted[FLUSHES - 1]!.toFixed(1)} ms per flush, ${rate(rows, total)}; ` +
      `capacity ~${Math.round((ACQ_PER_FLUSH / total) * FLUSHES * 1000).toLocaleString('en-US')} acquisitions/s`,
  );
}

async function run(provider: 'sqlite' | 'postgresql'): Promise<void> {
  let dir: string | undefined;
  let db: TestDatabase | undefined;
  let store: Store | undefined;
  try {
    if (provider === 'sqlite') dir = mkdtempSync(join(tmpdir(), 'lockscope-bench-'));
    else db = await createTestDatabase();
    const url = dir ? `file:${join(dir, 'bench.db')}` : db!.url;
    store = await openStore({ url });
    await store.migrate();
    console.log(`${provider} (${store.display})`);
    await bench(store);
  } finally {
    await store?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv[2];
for (const provider of ['sqlite', 'postgresql'] as const) {
  if (!only || only === provider) await run(provider);
}
