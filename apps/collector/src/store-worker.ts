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

port.on('message', (request: Request) => {
  void (async () => {
    try {
      const store = await storePromise;
      if (request.close) {
        await store.close();
        port.postMessage({ id: request.id, ok: true });
        return;
      }
      const started = performance.now();
      await store.writeBatch(request.batch!);
      port.postMessage({ id: request.id, ok: true, committedAt: Date.now(), tookMs: performance.now() - started });
    } catch (error) {
      const e = error as Error & { code?: string };
      port.postMessage({ id: request.id, ok: false, message: e.message, code: e.code ?? null });
    }
  })();
});
