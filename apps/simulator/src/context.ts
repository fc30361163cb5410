import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import { sleep, StoppedError } from './abortable.js';
import type { FencingResource } from './fencing-resource.js';
import type { PatternName } from './options.js';
import type { FleetPlan } from './plan.js';
import type { Rng } from './random.js';

/** What workers report; the CLI prints some, tests and stats read all. */
export type SimEvent =
  | { type: 'acquired'; pattern: PatternName; lock: string; worker: string; token: string | null; waited: boolean; waitedMs: number }
  | { type: 'released'; pattern: PatternName; lock: string; worker: string }
  | { type: 'lost'; pattern: PatternName; lock: string; worker: string; reason: string }
  | { type: 'stall'; phase: 'start' | 'end'; lock: string; worker: string; pauseMs: number }
  | { type: 'crash'; lock: string; worker: string }
  | { type: 'restart'; lock: string; worker: string }
  | { type: 'fencing'; backend: 'etcd' | 'redis'; accepted: boolean; resource: string; worker: string; token: string; highest: string | null }
  | { type: 'slow-dependency'; active: boolean }
  | { type: 'worker-error'; worker: string; message: string };

export interface WorkerContext {
  plan: FleetPlan;
  signal: AbortSignal;
  /** ms since the simulator started (monotonic). */
  elapsedMs(): number;
  /** An independent seeded stream per worker name. */
  rng(stream: string): Rng;
  /** Shared clients, like one connection pool per service. */
  etcd: Etcd3;
  redis: Redis;
  /** A client of its own, for a worker that will "crash" and drop it. */
  newEtcd(): Etcd3;
  newRedis(): Redis;
  resource(name: string): FencingResource;
  emit(event: SimEvent): void;
  /** One line to stdout. */
  log(line: string): void;
}

export type Worker = (ctx: WorkerContext) => Promise<void>;

/**
 * Runs a worker's body again and again until the simulator stops; a backend
 * error (etcd or Redis restarting) is reported and retried with backoff, as a
 * real service would, instead of ending the worker.
 */
export async function loopUntilStopped(ctx: WorkerContext, worker: string, body: () => Promise<void>): Promise<void> {
  let failures = 0;
  while (!ctx.signal.aborted) {
    try {
      await body();
      failures = 0;
    } catch (error) {
      if (error instanceof StoppedError || ctx.signal.aborted) return;
      failures++;
      const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      ctx.emit({ type: 'worker-error', worker, message });
      if (failures === 1 || failures % 20 === 0) ctx.log(`error: ${worker}: ${message} (retrying)`);
      await sleep(Math.min(5_000, 200 * 2 ** Math.min(failures, 5)), ctx.signal);
    }
  }
}

/** Think time between acquisitions for a worker at `rate` acquisitions per second. */
export function thinkMs(rng: Rng, rate: number): number {
  return Math.min(30_000, rng.exponential(1000 / rate));
}
