// Worker-thread entry: owns a store connection and applies write batches, so
// the store's synchronous work (better-sqlite3, Prisma's row encoding) never
// blocks the thread that receives backend notifications.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { openStore, type WriteBatch } from '@lockscope/store';

interface Request {
  id: number;
  batch?: WriteBatch;
  close?: boolean;
  /** After a failed batch: the collector has put the refused ones back; write again. */
  resume?: boolean;
}

const port = parentPort;
if (!port) throw new Error('store-worker must run in a worker thread');

// The OS thread id, so the benchmark can read this thread's CPU time (Linux only; /proc/thread-self is "<pid>/task/<tid>").
try {
  port.postMessage({ id: 0, ok: true, osThreadId: Number(readlinkSync('/proc/thread-self').split('/').pop()) });
} catch {
  // not Linux: nothing to report
}

const storePromise = openStore({ url: (workerData as { url: string }).url });
storePromise.catch(() => undefined);

// Requests are handled strictly one after another. Once a batch fails, every later
// batch is refused unwritten until the collector says resume: it may have sent the
// next batch already, and writing that one before the failed one is retried would put
// an older live row or resume revision over a newer one.
let queue: Promise<void> = Promise.resolve();
let refusing: string | null = null;

port.on('message', (request: Request) => {
  queue = queue.then(() => handle(request));
});

async function handle(request: Request): Promise<void> {
  if (request.resume) {
    refusing = null;
    return;
  }
  try {
    const store = await storePromise;
    if (request.close) {
      await store.close();
      port!.postMessage({ id: request.id, ok: true });
      return;
    }
    if (refusing !== null) {
      port!.postMessage({ id: request.id, ok: false, message: `not written: an earlier batch failed (${refusing})`, code: 'STORE_UNAVAILABLE' });
      return;
    }
    const started = performance.now();
    await store.writeBatch(request.batch!);
    port!.postMessage({ id: request.id, ok: true, committedAt: Date.now(), tookMs: performance.now() - started });
  } catch (error) {
    const e = error as Error & { code?: string };
    if (!request.close) refusing = e.message;
    port!.postMessage({ id: request.id, ok: false, message: e.message, code: e.code ?? null });
  }
}
