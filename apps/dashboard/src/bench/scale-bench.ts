// The issue-scale dashboard benchmark: `npm run bench:dashboard` (builds, then runs this).
//
// Seeds 1,000 live locks and 10 million events over the 7 days ending now, only
// through store.writeBatch in collector-shaped flushes (events, holds, live lock
// rows, per-minute rollups, source rows) from a simulated fleet fed through core's
// real LockTracker (fleet-sim.ts). Then it starts the real built dashboard
// (`next start` of `next build --webpack`) on that store, keeps writing as the
// collector would (a flush every 100 ms) and measures over HTTP: GET overview,
// GET locks (default, filtered and sorted, a later page by cursor), GET locks/{id},
// its holds and GET locks/{id}/metrics for 7 days on the busiest locks; and in
// headless Chromium how long the overview takes to become interactive. SQLite
// (a file in a temp dir) and PostgreSQL (a fresh database) in turn.
//
// Options: --events N (10000000) --locks N (1000) --providers sqlite,postgresql
//   --samples N (30 per endpoint) --page-samples N (10) --batch N (events per
//   seeding flush, 2000) --seed N --build (run next build first; the npm script
//   builds already) --keep DIR (SQLite: keep the store in DIR and reuse it on the
//   next run with the same --events/--locks, skipping the seeding; the reused data
//   ends when it was seeded, so "last 5 min" figures see nothing).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore, type Overview, type Store, type WriteBatch } from '@lockscope/store';
import { createTestDatabase, launchChromium, type TestDatabase } from '@lockscope/testing';
import type { Browser } from 'playwright-core';
import { buildDashboard, dashboardDir, startDashboard, type DashboardServer } from '../test-support/dashboard-server';
import { buildProfiles, ENDGAME_MS, FleetSim } from './fleet-sim';

const DAY = 86_400_000;
const WEEK = 7 * DAY;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    locks: { type: 'string', default: '1000' },
    providers: { type: 'string', default: 'sqlite,postgresql' },
    samples: { type: 'string', default: '30' },
    'page-samples': { type: 'string', default: '10' },
    batch: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
    build: { type: 'boolean', default: false },
    keep: { type: 'string' },
  },
});
const EVENTS = Number(values.events);
const LOCKS = Number(values.locks);
const SAMPLES = Number(values.samples);
const PAGE_SAMPLES = Number(values['page-samples']);
const BATCH = Number(values.batch);
const SEED = Number(values.seed);
const PROVIDERS = values.providers.split(',').map((p) => p.trim()) as ('sqlite' | 'postgresql')[];
for (const [name, n] of Object.entries({ events: EVENTS, locks: LOCKS, samples: SAMPLES, 'page-samples': PAGE_SAMPLES, batch: BATCH })) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
}
for (const p of PROVIDERS) if (p !== 'sqlite' && p !== 'postgresql') throw new Error(`unknown provider ${p}`);

const TARGET_MS = 200;
const PAGE_TARGET_MS = 2_000;
const LIVE_FLUSH_MS = 100;
const LIVE_ROLLUP_MS = 2_000;

const log = (line: string) => process.stderr.write(`${line}\n`);
const out: string[] = [];
/** Figures go to stdout and into the summary at the end. */
const report = (line: string) => {
  console.log(line);
  out.push(line);
};
const load = () => `load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const clock = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

interface Stat {
  p50: number;
  p95: number;
  max: number;
}

function stats(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { p50: q(0.5), p95: q(0.95), max: s.at(-1)! };
}

// ---------------------------------------------------------------- seeding

interface SeedInfo {
  events: number;
  locks: number;
  seed: number;
  seededAt: number;
  totals: Record<string, number>;
}

interface Seeded {
  sim: FleetSim | null;
  info: SeedInfo;
}

async function seed(store: Store, provider: string): Promise<Seeded> {
  const t0 = performance.now();
  const wallStart = Date.now();
  const start = wallStart - WEEK;
  const options = { locks: LOCKS, targetEvents: EVENTS, start, spanMs: WEEK, seed: SEED };
  const profiles = buildProfiles(LOCKS, SEED);
  const k = FleetSim.calibrate(options, profiles);
  log(`[${provider}] fleet calibrated in ${((performance.now() - t0) / 1000).toFixed(1)} s (rate multiplier ${k.toFixed(3)}); seeding ${fmt(EVENTS)} events over 7 days through writeBatch, flushes of about ${fmt(BATCH)} events`);
  const sim = new FleetSim(options, profiles);
  sim.k = k;
  const written = { events: 0, holds: 0, locks: 0, rollups: 0, sources: 0, batches: 0 };
  let inflight: Promise<void> | null = null;
  let lastProgress = performance.now();
  let rowsAtLast = 0;
  const rowsNow = () => written.events + written.holds + written.locks + written.rollups + written.sources;
  const write = (batch: WriteBatch) =>
    store.writeBatch(batch).then((r) => {
      written.events += r.events;
      written.holds += r.holdsInserted;
      written.locks += r.locks;
      written.rollups += r.rollups;
      written.sources += r.sources;
      written.batches += 1;
    });
  for (;;) {
    // The run ends at the wall clock, so the newest data is minutes, not the seeding time, old.
    const wall = Date.now();
    const reached = sim.runUntil(wall, BATCH, wall - ENDGAME_MS);
    const batch = sim.takeBatch(sim.now);
    // One flush in flight while the next is generated.
    if (inflight) await inflight;
    inflight = write(batch);
    const t = performance.now();
    if (t - lastProgress >= 5_000 || reached) {
      const rows = rowsNow();
      const done = Math.min(1, (sim.now - start) / (wall - start));
      log(
        `[${provider}] seeding ${(done * 100).toFixed(1)}% (simulated ${new Date(sim.now).toISOString().slice(0, 16)}Z): ` +
          `${fmt(written.events)} events, ${fmt(written.holds)} holds, ${fmt(written.rollups)} rollup upserts; ` +
          `${fmt(((rows - rowsAtLast) / (t - lastProgress)) * 1000)} rows/s; ${clock(t - t0)} elapsed; ${load()}`,
      );
      lastProgress = t;
      rowsAtLast = rows;
    }
    if (reached) break;
  }
  await inflight;
  const seconds = (performance.now() - t0) / 1000;
  const rollupRows = sim.totals.rollupRows + sim.openRollups;
  const totals = { ...written, rollupRows, seconds: Math.round(seconds) };
  report(
    `${provider}: seeded ${fmt(written.events)} events, ${fmt(written.holds)} holds, ${fmt(rollupRows)} rollup rows (${fmt(written.rollups)} upserts), ` +
      `${fmt(written.locks)} lock-row upserts for ${fmt(LOCKS)} locks in ${fmt(written.batches)} writeBatch flushes: ${clock(seconds * 1000)}, ` +
      `${fmt(rowsNow() / seconds)} rows/s (${load()})`,
  );
  return { sim, info: { events: EVENTS, locks: LOCKS, seed: SEED, seededAt: Date.now(), totals } };
}

/** The collector keeps flushing while the dashboard is measured: real time, a flush every 100 ms, rollups every 2 s. */
function startLiveWrites(store: Store, sim: FleetSim): { stop(): Promise<{ flushes: number; events: number }> } {
  let stopped = false;
  let flushes = 0;
  let events = 0;
  let lastRollups = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      sim.runUntil(started);
      const rollups = started - lastRollups >= LIVE_ROLLUP_MS;
      if (rollups) lastRollups = started;
      const batch = sim.takeBatch(started, { rollups });
      events += batch.events?.length ?? 0;
      await store.writeBatch(batch);
      flushes += 1;
      const wait = LIVE_FLUSH_MS - (Date.now() - started);
      // The collector's flush interval: a timer, not a condition to wait for.
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { flushes, events };
    },
  };
}

// ---------------------------------------------------------------- HTTP

interface Busy {
  id: string;
  name: string;
  dialect: string;
  rows: number;
  acquisitions: number;
  /** Mean stored sketch bytes per minute row (acquisition + hold time): what the metrics call decodes. */
  sketchBytes: number;
}

/**
 * The busiest lock of each dialect by acquisitions in the last 7 days: every minute
 * has a row and the densest sketches, the 7-day metrics worst cases.
 */
async function busiestLocks(store: Store): Promise<Busy[]> {
  const from = BigInt(Date.now() - WEEK);
  const rows = await store.serialized((db) =>
    db.$queryRaw<{ id: string; name: string; dialect: string; n: bigint | number; acq: bigint | number; bytes: bigint | number | null }[]>`
      SELECT r."lockId" AS "id", l."name" AS "name", l."dialect" AS "dialect", COUNT(*) AS "n", SUM(r."acquisitions") AS "acq",
        SUM(COALESCE(length(r."acqLatencySketch"), 0) + COALESCE(length(r."holdTimeSketch"), 0)) AS "bytes"
      FROM "Rollup" r JOIN "Lock" l ON l."id" = r."lockId"
      WHERE r."bucket" >= ${from}
      GROUP BY r."lockId", l."name", l."dialect"
      ORDER BY SUM(r."acquisitions") DESC`,
  );
  const seen = new Set<string>();
  const out: Busy[] = [];
  for (const r of rows) {
    if (seen.has(r.dialect)) continue;
    seen.add(r.dialect);
    out.push({ id: r.id, name: r.name, dialect: r.dialect, rows: Number(r.n), acquisitions: Number(r.acq), sketchBytes: Number(r.bytes ?? 0) / Number(r.n) });
  }
  return out;
}

async function get(url: string): Promise<{ ms: number; serverMs: number | null; status: number; body: string }> {
  const t = performance.now();
  const r = await fetch(url);
  const body = await r.text();
  const ms = performance.now() - t;
  const timing = /dur=([\d.]+)/.exec(r.headers.get('server-timing') ?? '');
  return { ms, serverMs: timing ? Number(timing[1]) : null, status: r.status, body };
}

async function timeEndpoint(label: string, url: () => string, provider: string): Promise<Stat> {
  for (let i = 0; i < 3; i++) {
    const r = await get(url());
    if (r.status !== 200) throw new Error(`${label}: ${url()} answered ${r.status}: ${r.body.slice(0, 500)}`);
  }
  const client: number[] = [];
  const server: number[] = [];
  let bytes = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const r = await get(url());
    if (r.status !== 200) throw new Error(`${label}: ${r.status}: ${r.body.slice(0, 500)}`);
    client.push(r.ms);
    if (r.serverMs !== null) server.push(r.serverMs);
    bytes = r.body.length;
  }
  const s = stats(client);
  const sv = server.length ? stats(server) : null;
  const verdict = s.p95 < TARGET_MS ? 'ok' : 'MISSED';
  report(
    `  ${provider.padEnd(10)} ${label.padEnd(46)} p50 ${s.p50.toFixed(1).padStart(7)}  p95 ${s.p95.toFixed(1).padStart(7)}  max ${s.max.toFixed(1).padStart(7)} ms` +
      `  (server p50 ${sv ? sv.p50.toFixed(1) : '-'} / p95 ${sv ? sv.p95.toFixed(1) : '-'} ms, ${fmt(bytes / 1024)} KiB) ${verdict}  ${load()}`,
  );
  return s;
}

async function measureHttp(base: string, store: Store, provider: string): Promise<void> {
  const busy = await busiestLocks(store);
  const top = busy[0]!;
  for (const b of busy) {
    report(`${provider}: busiest ${b.dialect} lock ${b.name}: ${fmt(b.acquisitions)} acquisitions, ${fmt(b.rows)} minute rows, ${fmt(b.sketchBytes)} sketch bytes per row in 7 days`);
  }
  // The cursor of page 6 of the default list (sorted by name), as "Next" would follow it.
  let cursor = '';
  for (let page = 1; page < 6; page++) {
    const r = JSON.parse((await get(`${base}/api/v1/locks${cursor ? `?cursor=${cursor}` : ''}`)).body) as { nextCursor: string | null };
    if (!r.nextCursor) break;
    cursor = r.nextCursor;
  }
  const o = JSON.parse((await get(`${base}/api/v1/overview`)).body) as Overview;
  report(
    `${provider}: the overview reads ${fmt(o.locks)} locks, ${fmt(o.locksHeld)} held, ${fmt(o.nearExpiryNow)} near expiry, ${fmt(o.locksWithWaiters)} with waiters, ` +
      `fleet P95 acquisition ${o.acquisition.p95Ms ?? '-'} ms over ${fmt(o.acquisition.samples)} acquisitions in 5 min, ${fmt(o.expirationsLastHour)} expirations in the last hour, ` +
      `sources ${o.sources.up}/${o.sources.total} up`,
  );
  report(`${provider}: HTTP, ${SAMPLES} samples each after 3 warm-up requests, client-side wall time including the body (${load()})`);
  const week = () => {
    const to = Date.now();
    return `from=${to - WEEK}&to=${to}`;
  };
  await timeEndpoint('GET overview', () => `${base}/api/v1/overview`, provider);
  await timeEndpoint('GET locks (default: 50, by name)', () => `${base}/api/v1/locks`, provider);
  await timeEndpoint('GET locks ?state=held&sort=expires', () => `${base}/api/v1/locks?state=held&sort=expires`, provider);
  await timeEndpoint('GET locks ?source=redis-main&sort=lastChange desc', () => `${base}/api/v1/locks?source=redis-main&sort=lastChange&order=desc&limit=100`, provider);
  await timeEndpoint('GET locks ?name=payments&sort=heldFor desc', () => `${base}/api/v1/locks?name=payments&sort=heldFor&order=desc`, provider);
  await timeEndpoint('GET locks page 6 (cursor)', () => `${base}/api/v1/locks?cursor=${cursor}`, provider);
  await timeEndpoint(`GET locks/{id} (${top.dialect})`, () => `${base}/api/v1/locks/${encodeURIComponent(top.id)}`, provider);
  await timeEndpoint(`GET locks/{id}/holds 7 d (${top.dialect})`, () => `${base}/api/v1/locks/${encodeURIComponent(top.id)}/holds?${week()}`, provider);
  for (const b of busy) {
    await timeEndpoint(`GET locks/{id}/metrics 7 d (${b.dialect})`, () => `${base}/api/v1/locks/${encodeURIComponent(b.id)}/metrics?${week()}`, provider);
  }
}

// ---------------------------------------------------------------- browser

/**
 * Fresh browser context per sample (no cache, no cookies). Timed from just
 * before navigation until the lock table shows rows and the headline figures are
 * in ("content"), then until a click on the TTL sort header has changed the URL
 * ("interactive": React has hydrated and handles input).
 */
async function measurePage(browser: Browser, base: string, provider: string): Promise<void> {
  const content: number[] = [];
  const interactive: number[] = [];
  const dcl: number[] = [];
  for (let i = 0; i <= PAGE_SAMPLES; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      const t0 = performance.now();
      await page.goto(`${base}/`, { waitUntil: 'commit' });
      await page.locator('[data-testid="lock-table"] tbody tr').first().waitFor({ timeout: 60_000 });
      await page.getByTestId('headline').waitFor({ timeout: 60_000 });
      const tContent = performance.now() - t0;
      await page.getByRole('button', { name: /^TTL/ }).click();
      await page.waitForURL(/sort=ttl/, { timeout: 60_000 });
      const tInteractive = performance.now() - t0;
      const nav = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.domContentLoadedEventEnd ?? null);
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
      // The first load after the server starts is a warm-up.
      if (i === 0) continue;
      content.push(tContent);
      interactive.push(tInteractive);
      if (nav !== null) dcl.push(nav);
    } finally {
      await context.close();
    }
  }
  const c = stats(content);
  const it = stats(interactive);
  const d = dcl.length ? stats(dcl) : null;
  report(`${provider}: overview page in headless Chromium, ${PAGE_SAMPLES} samples (fresh context each, after 1 warm-up) (${load()})`);
  report(`  ${provider.padEnd(10)} ${'DOMContentLoaded'.padEnd(46)} p50 ${(d?.p50 ?? NaN).toFixed(0).padStart(7)}  p95 ${(d?.p95 ?? NaN).toFixed(0).padStart(7)}  max ${(d?.max ?? NaN).toFixed(0).padStart(7)} ms`);
  report(`  ${provider.padEnd(10)} ${'rows + headline shown'.padEnd(46)} p50 ${c.p50.toFixed(0).padStart(7)}  p95 ${c.p95.toFixed(0).padStart(7)}  max ${c.max.toFixed(0).padStart(7)} ms`);
  report(
    `  ${provider.padEnd(10)} ${'interactive (sort click changed the URL)'.padEnd(46)} p50 ${it.p50.toFixed(0).padStart(7)}  p95 ${it.p95.toFixed(0).padStart(7)}  max ${it.max.toFixed(0).padStart(7)} ms` +
      `  ${it.p95 < PAGE_TARGET_MS ? 'ok' : 'MISSED'}  ${load()}`,
  );
}

// ---------------------------------------------------------------- per provider

async function storeSize(store: Store, provider: string, file: string | null): Promise<string> {
  if (file) {
    const wal = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
    return `${(statSync(file).size / 2 ** 30).toFixed(2)} GiB (+ ${(wal / 2 ** 20).toFixed(0)} MiB WAL)`;
  }
  const [r] = await store.prisma.$queryRaw<{ size: bigint }[]>`SELECT pg_database_size(current_database()) AS "size"`;
  return `${(Number(r!.size) / 2 ** 30).toFixed(2)} GiB`;
}

async function runProvider(provider: 'sqlite' | 'postgresql', browser: Browser): Promise<void> {
  const keep = provider === 'sqlite' && values.keep ? resolve(values.keep) : null;
  const dir = keep ?? mkdtempSync(join(tmpdir(), `lockscope-scale-${provider}-`));
  if (keep) mkdirSync(keep, { recursive: true });
  let pg: TestDatabase | null = null;
  let server: DashboardServer | null = null;
  let store: Store | null = null;
  let live: ReturnType<typeof startLiveWrites> | null = null;
  try {
    pg = provider === 'postgresql' ? await createTestDatabase() : null;
    const file = pg ? null : join(dir, 'bench.db');
    const url = pg ? pg.url : `file:${file}`;
    const infoPath = join(dir, 'seed.json');
    const reuse = keep !== null && existsSync(file!) && existsSync(infoPath);
    store = await openStore({ url });
    let seeded: Seeded;
    if (reuse) {
      const info = JSON.parse(readFileSync(infoPath, 'utf8')) as SeedInfo;
      if (info.events !== EVENTS || info.locks !== LOCKS || info.seed !== SEED) {
        throw new Error(`${dir} holds a store seeded with --events ${info.events} --locks ${info.locks} --seed ${info.seed}; remove it or pass the same options`);
      }
      seeded = { sim: null, info };
      report(
        `${provider}: reusing ${file} seeded ${clock(Date.now() - info.seededAt)} ago (${fmt(info.totals.events ?? 0)} events, ${fmt(info.totals.holds ?? 0)} holds, ` +
          `${fmt(info.totals.rollupRows ?? 0)} rollup rows); no live writes, so windows ending now (last 5 min, last hour) see no new data`,
      );
    } else {
      if (keep) rmSync(infoPath, { force: true });
      await store.migrate();
      seeded = await seed(store, provider);
      if (keep) writeFileSync(infoPath, JSON.stringify(seeded.info, null, 2));
    }
    if (pg) {
      // Autovacuum would do this on its own schedule after a bulk load; done now so plans do not change mid-measurement.
      const t = performance.now();
      await store.prisma.$executeRawUnsafe('VACUUM ANALYZE');
      report(`${provider}: VACUUM ANALYZE after seeding took ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    report(`${provider}: store size ${await storeSize(store, provider, file)}`);

    const config = join(dir, 'lockscope.yaml');
    writeFileSync(config, 'sources: []\n');
    server = await startDashboard({ DATABASE_URL: url, LOCKSCOPE_CONFIG: config });
    if (seeded.sim) live = startLiveWrites(store, seeded.sim);
    await measureHttp(server.url, store, provider);
    await measurePage(browser, server.url, provider);
    if (live) {
      const l = await live.stop();
      live = null;
      report(`${provider}: the collector-style writer flushed ${fmt(l.flushes)} times (${fmt(l.events)} events) during the measurements`);
    }
  } finally {
    await live?.stop().catch(() => undefined);
    await server?.stop();
    await store?.close();
    await pg?.drop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const buildId = join(dashboardDir, '.next', 'BUILD_ID');
  if (values.build || !existsSync(buildId)) {
    log(`next build --webpack of ${dashboardDir} ...`);
    const t = performance.now();
    await buildDashboard();
    log(`built in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  } else {
    log(`using the existing build of ${dashboardDir} (id ${readFileSync(buildId, 'utf8').trim()}); pass --build to rebuild`);
  }
  report(`dashboard scale bench: ${fmt(LOCKS)} locks, ${fmt(EVENTS)} events over 7 days, providers ${PROVIDERS.join(', ')}; targets: p95 < ${TARGET_MS} ms per API call, interactive < ${PAGE_TARGET_MS} ms (${load()})`);
  const browser = await launchChromium();
  try {
    for (const provider of PROVIDERS) await runProvider(provider, browser);
  } finally {
    await browser.close();
  }
  console.log('\n==== summary ====');
  for (const line of out) console.log(line);
}

await main();
