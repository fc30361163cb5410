// The Batcher while the store is down or stalled: rows are kept (in memory up to a cap,
// then on disk), reported truthfully, written in order when the store is back, and
// spilled at a stop that cannot wait. The store is a stand-in writer here so that an
// outage can be switched on and off exactly; the fault suite does the same with a real
// PostgreSQL behind a cut TCP proxy.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WriteBatch } from '@lockscope/store';
import { Batcher } from './batcher.js';
import { CollectorMetrics } from './metrics.js';
import { SpillDir } from './spill.js';
import type { BatchWriter } from './store-writer.js';

type Mode = 'up' | 'down' | 'hang';

function switchableWriter() {
  const state = { mode: 'up' as Mode, attempts: 0 };
  const written: WriteBatch[] = [];
  const writer: BatchWriter = {
    writeBatch: (batch) => {
      state.attempts++;
      if (state.mode === 'down') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap (node:net:1)'));
      if (state.mode === 'hang') return new Promise<void>(() => undefined);
      written.push(structuredClone(batch));
      return Promise.resolve();
    },
    close: async () => undefined,
  };
  return { writer, state, written };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(options: { maxBufferedRows?: number; stallAfterMs?: number; spill?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-spill-'));
  dirs.push(dir);
  const { writer, state, written } = switchableWriter();
  const logs: string[] = [];
  const metrics = new CollectorMetrics();
  const make = () =>
    new Batcher({
      writer,
      describeSource: () => undefined,
      sourceNames: () => [],
      intervalMs: 5,
      metrics,
      now: Date.now,
      log: (line) => logs.push(line),
      spill: options.spill === false ? null : new SpillDir(dir),
      maxBufferedRows: options.maxBufferedRows,
      stallAfterMs: options.stallAfterMs,
    });
  return { make, state, written, logs, dir, metrics };
}

const event = (at: number, holder = 'h') => ({ type: 'acquired' as const, at, holder, token: null, ttlMs: null, valueMs: null });
const holdersOf = (written: WriteBatch[]) => written.flatMap((b) => (b.events ?? []).map((e) => e.holder));

describe('Batcher during a store outage', () => {
  it('counts every row not yet committed, logs the outage once, and writes everything in order when the store is back', async () => {
    const { make, state, written, logs } = setup();
    const batcher = make();
    batcher.start();
    state.mode = 'down';
    for (let i = 0; i < 50; i++) batcher.addEvent('lock-a', 'src', event(i, `h${i}`));
    await vi.waitFor(() => expect(state.attempts).toBeGreaterThanOrEqual(3), { timeout: 5_000 });
    for (let i = 50; i < 100; i++) batcher.addEvent('lock-a', 'src', event(i, `h${i}`));
    expect(batcher.bufferedRows()).toBe(100);
    expect(batcher.health()).toMatchObject({ ok: false, bufferedRows: 100 });
    // One line for the outage, however many attempts failed; the driver's stack is not in it.
    expect(logs.filter((l) => l.includes('store write failed'))).toHaveLength(1);
    expect(logs[0]).not.toContain('TCPConnectWrap');

    state.mode = 'up';
    await vi.waitFor(() => expect(batcher.bufferedRows()).toBe(0), { timeout: 10_000 });
    expect(holdersOf(written)).toEqual(Array.from({ length: 100 }, (_, i) => `h${i}`));
    expect(logs.filter((l) => l.includes('recovered'))).toHaveLength(1);
    expect(batcher.health().ok).toBe(true);
    await batcher.stop(1_000);
  });

  it('past its cap, keeps rows on disk and writes them before anything newer', async () => {
    const { make, state, written, logs, dir } = setup({ maxBufferedRows: 1_000 });
    const batcher = make();
    batcher.start();
    state.mode = 'down';
    for (let i = 0; i < 1_500; i++) batcher.addEvent('lock-a', 'src', event(i, `h${i}`));
    await vi.waitFor(() => expect(batcher.spilledRowCount()).toBe(1_500), { timeout: 5_000 });
    expect(batcher.bufferedRows()).toBe(0);
    expect(readdirSync(dir).filter((n) => n.startsWith('batch-'))).toHaveLength(1);
    for (let i = 1_500; i < 1_600; i++) batcher.addEvent('lock-a', 'src', event(i, `h${i}`));

    state.mode = 'up';
    await vi.waitFor(() => expect(batcher.bufferedRows() + batcher.spilledRowCount()).toBe(0), { timeout: 10_000 });
    expect(holdersOf(written)).toEqual(Array.from({ length: 1_600 }, (_, i) => `h${i}`));
    expect(readdirSync(dir)).toEqual([]);
    expect(logs.filter((l) => l.includes('keeping rows on disk'))).toHaveLength(1);
    await batcher.stop(1_000);
  });

  it('without anywhere to spill, drops past the cap and says so in a counter and the log', async () => {
    const { make, state, logs, metrics } = setup({ maxBufferedRows: 1_000, spill: false });
    const batcher = make();
    batcher.start();
    state.mode = 'down';
    for (let i = 0; i < 1_200; i++) batcher.addEvent('lock-a', 'src', event(i));
    await vi.waitFor(() => expect(batcher.health().droppedRows).toBe(1_200), { timeout: 5_000 });
    expect(await metrics.registry.getSingleMetricAsString('lockscope_dropped_rows_total')).toContain('lockscope_dropped_rows_total 1200');
    expect(logs.some((l) => l.includes('DROPPED 1200 rows'))).toBe(true);
    await batcher.stop(100);
  });

  it('a stalled store (no answer at all) turns health unhealthy after stallAfter', async () => {
    const { make, state } = setup({ stallAfterMs: 200 });
    const batcher = make();
    batcher.start();
    state.mode = 'hang';
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.waitFor(() => expect(state.attempts).toBe(1));
    expect(batcher.health().ok).toBe(true);
    expect(batcher.bufferedRows()).toBe(1);
    await vi.waitFor(() => expect(batcher.health()).toMatchObject({ ok: false, lastError: expect.stringContaining('no store write has committed') }), { timeout: 2_000 });
    await batcher.stop(100);
  });

  it('a stop with the store down saves the rows, and the next start writes them first', async () => {
    const { make, state, written, logs } = setup();
    const first = make();
    first.start();
    state.mode = 'down';
    for (let i = 0; i < 30; i++) first.addEvent('lock-a', 'src', event(i, `h${i}`));
    await vi.waitFor(() => expect(state.attempts).toBeGreaterThanOrEqual(1));
    await first.stop(300);
    expect(logs.some((l) => l.includes('stopping with 30 rows') && l.includes('written at the next start'))).toBe(true);

    // The next run, with the store still down, refuses to start rather than lose order...
    const second = make();
    await expect(second.writeSpilledAtStart()).rejects.toThrow(/stay there and are written at the next start/);
    // ...and once it is back, writes them before anything else.
    state.mode = 'up';
    const third = make();
    expect(await third.writeSpilledAtStart()).toBe(30);
    expect(holdersOf(written)).toEqual(Array.from({ length: 30 }, (_, i) => `h${i}`));
    expect(await third.writeSpilledAtStart()).toBe(0);
  });
});
