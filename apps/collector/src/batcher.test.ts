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

/**
 * A writer that keeps order like the store worker: writes finish (or fail) when the test
 * says so; after a failure every later batch is refused until resume().
 */
function orderedWriter() {
  const calls: { batch: WriteBatch; finish: () => void; fail: (message: string) => void }[] = [];
  const written: WriteBatch[] = [];
  let refusing = false;
  let resumes = 0;
  const writer: BatchWriter = {
    writeBatch: (batch) =>
      new Promise<void>((resolve, reject) => {
        calls.push({
          batch,
          finish: () => {
            if (refusing) return reject(new Error('not written: an earlier batch failed'));
            written.push(batch);
            resolve();
          },
          fail: (message) => {
            refusing = true;
            reject(new Error(message));
          },
        });
      }),
    resume: () => {
      refusing = false;
      resumes++;
    },
    close: async () => undefined,
  };
  return { writer, calls, written, resumes: () => resumes };
}

/** A started Batcher (100 ms interval) on a fake clock from 0, writing through heldWriter. */
function startBatcher(writerOf: () => { writer: BatchWriter; calls: { at?: number; batch: WriteBatch; finish: () => void }[] } = heldWriter) {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'Date'], now: 0 });
  const { writer, calls } = writerOf();
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

  it('keeps one flush in flight with a writer that cannot keep order after a failure', async () => {
    const { batcher, calls } = startBatcher();
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.advanceTimersByTimeAsync(100);
    batcher.addEvent('lock-a', 'src', event(2));
    await vi.advanceTimersByTimeAsync(300);
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    calls[1]!.finish();
    await batcher.stop(1_000);
  });

  it('with an order-keeping writer sends the next batch while one is written, and puts a failed pair back in order', async () => {
    const ordered = orderedWriter();
    const { batcher } = startBatcher(() => ordered);
    const { calls, written } = ordered;
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.advanceTimersByTimeAsync(100);
    batcher.addEvent('lock-a', 'src', event(2));
    await vi.advanceTimersByTimeAsync(100);
    // The first is still being written: the second is on its way already, no third.
    expect(calls).toHaveLength(2);
    batcher.addEvent('lock-a', 'src', event(3));
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(2);
    // The first fails; the second is refused behind it. Nothing is lost, nothing reordered.
    calls[0]!.fail('disk I/O error');
    calls[1]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(ordered.resumes()).toBe(1);
    expect(batcher.health()).toMatchObject({ ok: false, lastError: 'disk I/O error', bufferedRows: 3 });
    // After the backoff, one batch carries all three, oldest first.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(3);
    expect(calls[2]!.batch.events?.map((e) => e.at)).toEqual([1, 2, 3]);
    calls[2]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(written.flatMap((b) => b.events ?? []).map((e) => e.at)).toEqual([1, 2, 3]);
    expect(batcher.health()).toMatchObject({ ok: true, bufferedRows: 0 });
    await batcher.stop(1_000);
  });

  it('stop() with a batch in flight and nothing new waits for that batch instead of spinning', async () => {
    const ordered = orderedWriter();
    const { batcher } = startBatcher(() => ordered);
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.advanceTimersByTimeAsync(100);
    expect(ordered.calls).toHaveLength(1);
    const stopped = batcher.stop(1_000);
    await vi.advanceTimersByTimeAsync(0);
    ordered.calls[0]!.finish();
    await stopped;
    expect(ordered.written.flatMap((b) => b.events ?? []).map((e) => e.at)).toEqual([1]);
  });

  it('a batch built while another is written carries that one\'s resume revision, not an older one', async () => {
    const ordered = orderedWriter();
    const { batcher } = startBatcher(() => ordered);
    batcher.setResumeRevision('src', '10');
    batcher.addEvent('lock-a', 'src', event(1));
    await vi.advanceTimersByTimeAsync(100);
    // No new revision, but the source's row is written again (health changed).
    batcher.touchSource('src');
    await vi.advanceTimersByTimeAsync(100);
    expect(ordered.calls).toHaveLength(2);
    expect(ordered.calls.map((c) => c.batch.sources?.find((r) => r.name === 'src')?.resumeRevision)).toEqual(['10', '10']);
    ordered.calls[0]!.finish();
    ordered.calls[1]!.finish();
    await batcher.stop(1_000);
  });
});
