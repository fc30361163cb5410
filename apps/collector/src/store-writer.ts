import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LockscopeError, type LockscopeErrorCode } from '@lockscope/core';
import type { Store, WriteBatch } from '@lockscope/store';

/** Where the collector's batches go: the store, in this thread or a worker. */
export interface BatchWriter {
  writeBatch(batch: WriteBatch): Promise<void>;
  close(): Promise<void>;
  /** Milliseconds spent writing batches so far, when measured in a thread of its own (the benchmark prints it). */
  writingMs?(): number;
  /** The OS thread id of the writer's thread, once known (Linux), for the benchmark's per-thread CPU. */
  osThreadId?(): number | null;
  /**
   * Present when the writer applies batches strictly in the order given and, once one
   * fails, refuses every later batch without writing it until resume() is called. The
   * Batcher then keeps a second batch in flight and can put failed ones back in order.
   */
  resume?(): void;
}

export function inlineWriter(store: Store): BatchWriter {
  return {
    writeBatch: async (batch) => {
      await store.writeBatch(batch);
    },
    close: async () => undefined,
  };
}

interface Reply {
  id: number;
  ok: boolean;
  tookMs?: number;
  osThreadId?: number;
  message?: string;
  code?: LockscopeErrorCode | null;
}

/**
 * Writes batches from a worker thread with its own store connection. In the
 * bundle the worker is dist/store-worker.js; from TypeScript sources (tests)
 * it runs through tsx (store-worker-dev.mjs).
 */
export function workerWriter(url: string): BatchWriter {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const script = fromSource ? new URL('./store-worker-dev.mjs', import.meta.url) : new URL('./store-worker.js', import.meta.url);
  if (!existsSync(script)) throw new LockscopeError('INTERNAL', `store worker script missing: ${fileURLToPath(script)} (run npm run build)`);
  const worker = new Worker(script, { workerData: { url } });
  let nextId = 0;
  const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let dead: Error | null = null;
  const failAll = (error: Error) => {
    dead = error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  let writingMs = 0;
  let osThreadId: number | null = null;
  worker.on('message', (reply: Reply) => {
    writingMs += reply.tookMs ?? 0;
    if (reply.osThreadId !== undefined) osThreadId = reply.osThreadId;
    const w = waiting.get(reply.id);
    if (!w) return;
    waiting.delete(reply.id);
    if (reply.ok) w.resolve();
    else w.reject(new LockscopeError(reply.code ?? 'STORE_UNAVAILABLE', reply.message ?? 'store write failed'));
  });
  worker.on('error', (error) => failAll(new LockscopeError('INTERNAL', `store worker failed: ${error.message}`, { cause: error })));
  worker.on('exit', (code) => failAll(new LockscopeError('INTERNAL', `store worker exited (code ${code})`)));
  const send = (message: { batch?: WriteBatch; close?: boolean; resume?: boolean }) =>
    new Promise<void>((resolve, reject) => {
      if (dead) {
        reject(dead);
        return;
      }
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...message });
    });
  return {
    writeBatch: (batch) => send({ batch }),
    resume: () => {
      if (!dead) worker.postMessage({ id: 0, resume: true });
    },
    writingMs: () => writingMs,
    osThreadId: () => osThreadId,
    async close() {
      if (!dead) await send({ close: true }).catch(() => undefined);
      await worker.terminate();
    },
  };
}
