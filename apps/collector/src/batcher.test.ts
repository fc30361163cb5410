import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WriteBatch } from '@lockscope/store';
import { Batcher } from './batcher.js';
import { CollectorMetrics } from './metrics.js';
import type { BatchWriter } from './store-writer.js';

/** A writer whose writes finish when the test says so, recording when each began (fake clock). */
function heldWriter() {
  const calls: { at: number; batch: WriteBatch; finish: () => void }[] = [];
  const writer: BatchWriter = {
    writeBatch: (batch) => new Promise<void>((resolve) => calls.push({ at: Date.now(), batch, finish: resolve })),
    close: async () => undefined,
  };
  return { writer, calls };
}

/** A started Batcher (100 ms interval) on a fake clock from 0, writing through heldWriter. */
function startBatcher() {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'Date'], now: 0 });
  const { writer, calls } = heldWriter();
  const batcher = new Batcher({
    writer,
    describeSource: () => undefined,
    sourceNames: () => [],
    intervalMs: 100,
    metrics: new CollectorMetrics(),
    now: Date.now,
    log: () => undefined,
  });
  batcher.start();
  return { batcher, calls };
}

const event = (at: number) => ({ type: 'acquired' as const, at, holder: 'h', token: null, ttlMs: null, valueMs: null });

describe('Batcher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('after a flush that outlasted the interval, writes what arrived meanwhile at once instead of at the next tick', async () => {
    const { batcher, calls } = startBatcher();
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(1);
    // The store is slow: 250 ms pass (two ticks find the flush still running), and more arrives.
    await vi.advanceTimersByTimeAsync(250);
    batcher.addEvent('lock-a', 'src', event(2));
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    // Only immediates run from here: no interval tick is due before 400.
    await vi.advanceTimersByTimeAsync(0);
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    expect(calls[1]!.at).toBe(350);
    expect(calls[1]!.batch.events?.map((e) => e.at)).toEqual([2]);
    calls[1]!.finish();
    await batcher.stop(1_000);
  });

  it('after a quick flush, waits for the next tick (batches stay batches)', async () => {
    const { batcher, calls } = startBatcher();
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.advanceTimersByTimeAsync(100);
    batcher.addEvent('lock-a', 'src', event(2));
    await vi.advanceTimersByTimeAsync(10);
    calls[0]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(90);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at).toBe(200);
    calls[1]!.finish();
    await batcher.stop(1_000);
  });
});
