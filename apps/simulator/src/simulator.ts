import { setMaxListeners } from 'node:events';
import { LockscopeError } from '@lockscope/core';
import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import { createSimEtcd, createSimRedis } from './clients.js';
import type { SimEvent, Worker, WorkerContext } from './context.js';
import { FencingResource } from './fencing-resource.js';
import { FencingReporter } from './fencing-reporter.js';
import type { PatternName, SimulatorOptions } from './options.js';
import { planFleet, type FleetPlan } from './plan.js';
import { createRng } from './random.js';
import { etcdCrashWorker, etcdPaymentsWorker, inventoryContender, leaderCandidate, slowDependencyAnnouncer, slowDependencyWorker } from './workers/etcd-workers.js';
import { redissonClientId } from './redis/locks.js';
import { redisCrashWorker, redisLedgerWorker, redissonFleet, setNxWorker } from './workers/redis-workers.js';

export interface SimulatorHooks {
  /** Lines meant for stdout (default: process.stdout). */
  out?: (line: string) => void;
  onEvent?: (event: SimEvent) => void;
  /** The collector's fencing token, for --report-fencing (read from the environment by main). */
  fencingToken?: string;
}

export interface SimulatorStats {
  acquisitions: Record<string, number>;
  waitedAcquisitions: Record<string, number>;
  stalls: number;
  crashes: number;
  fencingRefusals: number;
  fencingAccepted: number;
  workerErrors: number;
}

/** Milliseconds stop() waits for workers to release before it closes the clients anyway. */
const STOP_DEADLINE_MS = 5_000;

/** Builds the workers the plan's patterns ask for. */
export function workersFor(plan: FleetPlan): Array<{ pattern: PatternName; worker: Worker }> {
  const out: Array<{ pattern: PatternName; worker: Worker }> = [];
  const add = (pattern: PatternName, workers: Worker[]) => {
    if (plan.patterns.includes(pattern)) for (const worker of workers) out.push({ pattern, worker });
  };
  add('leader', plan.leader.candidates.map((c) => leaderCandidate(c)));
  add('inventory', Array.from({ length: plan.inventory.contenders }, (_, i) => inventoryContender(i)));
  add('redis-setnx', Array.from({ length: plan.setnx.workers }, (_, i) => setNxWorker(i)));
  add('redisson', redissonFleet('redisson', plan.redisson.workers));
  add('redisson-fair', redissonFleet('redisson-fair', plan.fair.workers));
  const ledgerJvm = redissonClientId();
  add('stall', [etcdPaymentsWorker(0), etcdPaymentsWorker(1), redisLedgerWorker(0, ledgerJvm), redisLedgerWorker(1, ledgerJvm)]);
  add('crash', [etcdCrashWorker, redisCrashWorker]);
  add('slow-dependency', [slowDependencyAnnouncer, ...Array.from({ length: plan.slow.contenders }, (_, i) => slowDependencyWorker(i))]);
  return out;
}

/**
 * The simulated fleet. start() checks both backends answer, then runs every
 * worker; stop() aborts them, lets each release what it holds (delete its
 * key, revoke its lease, compare-and-delete) and closes every client.
 */
export class Simulator {
  readonly plan: FleetPlan;
  private readonly abort = new AbortController();
  private readonly resources = new Map<string, FencingResource>();
  private readonly fencingReporter: FencingReporter | null;
  private readonly extraEtcd = new Set<Etcd3>();
  private readonly extraRedis = new Set<Redis>();
  private etcd: Etcd3 | null = null;
  private redis: Redis | null = null;
  private running: Promise<unknown> | null = null;
  private startedAt = 0;
  private lastRedisError = '';
  private readonly counters: SimulatorStats = { acquisitions: {}, waitedAcquisitions: {}, stalls: 0, crashes: 0, fencingRefusals: 0, fencingAccepted: 0, workerErrors: 0 };

  constructor(
    private readonly options: SimulatorOptions,
    private readonly hooks: SimulatorHooks = {},
  ) {
    this.plan = planFleet(options);
    this.fencingReporter = options.reportFencing && hooks.fencingToken ? new FencingReporter({ ...options.reportFencing, token: hooks.fencingToken }, (line) => this.out(line)) : null;
    // Every worker's sleeps and watches listen on the one stop signal.
    setMaxListeners(0, this.abort.signal);
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('simulator already started');
    const onRedisError = (error: Error) => {
      this.lastRedisError = error.message;
    };
    this.etcd = createSimEtcd(this.options.etcd);
    this.redis = createSimRedis(this.options.redis, 'lockscope-simulator', onRedisError);
    try {
      await this.etcd.get('lockscope-simulator-ping').string();
    } catch (error) {
      await this.closeClients();
      throw new LockscopeError('SOURCE_UNREACHABLE', `etcd is not reachable at ${this.options.etcd.join(', ')}: ${(error as Error).message.split('\n')[0]}. Start etcd or pass --etcd.`, { cause: error });
    }
    try {
      await this.redis.ping();
    } catch (error) {
      await this.closeClients();
      throw new LockscopeError('SOURCE_UNREACHABLE', `Redis is not reachable at ${this.options.redis}: ${this.lastRedisError || (error as Error).message}. Start redis-server or pass --redis.`, { cause: error });
    }
    this.startedAt = performance.now();
    const ctx = this.context(onRedisError);
    const workers = workersFor(this.plan);
    this.running = Promise.allSettled(workers.map(({ worker }) => worker(ctx)));
    this.out(`simulator: profile ${this.options.profile.name}, seed ${this.options.seed}, ${workers.length} workers (${this.plan.patterns.join(', ')}) on etcd ${this.options.etcd.join(',')} and ${this.options.redis}`);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise((r) => (timer = setTimeout(r, STOP_DEADLINE_MS)))]);
      clearTimeout(timer);
      this.running = null;
    }
    await this.closeClients();
  }

  stats(): SimulatorStats {
    return structuredClone(this.counters);
  }

  resource(name: string): FencingResource {
    let r = this.resources.get(name);
    if (!r) this.resources.set(name, (r = new FencingResource(name)));
    return r;
  }

  private out(line: string): void {
    (this.hooks.out ?? ((l: string) => process.stdout.write(`${l}\n`)))(line);
  }

  private record(event: SimEvent): void {
    const c = this.counters;
    if (event.type === 'fencing') this.fencingReporter?.report(event);
    if (event.type === 'acquired') {
      c.acquisitions[event.pattern] = (c.acquisitions[event.pattern] ?? 0) + 1;
      if (event.waited) c.waitedAcquisitions[event.pattern] = (c.waitedAcquisitions[event.pattern] ?? 0) + 1;
    } else if (event.type === 'stall' && event.phase === 'start') c.stalls++;
    else if (event.type === 'crash') c.crashes++;
    else if (event.type === 'fencing') {
      if (event.accepted) c.fencingAccepted++;
      else c.fencingRefusals++;
    }
    else if (event.type === 'worker-error') c.workerErrors++;
    this.hooks.onEvent?.(event);
  }

  private context(onRedisError: (error: Error) => void): WorkerContext {
    const etcd = this.etcd!;
    const redis = this.redis!;
    return {
      plan: this.plan,
      signal: this.abort.signal,
      elapsedMs: () => performance.now() - this.startedAt,
      rng: (stream) => createRng(this.options.seed, stream),
      etcd,
      redis,
      newEtcd: () => {
        const client = createSimEtcd(this.options.etcd);
        this.extraEtcd.add(client);
        // A closed client is forgotten so repeated crashes do not pile up references.
        const close = client.close.bind(client);
        client.close = () => {
          this.extraEtcd.delete(client);
          close();
        };
        return client;
      },
      newRedis: () => {
        const client = createSimRedis(this.options.redis, 'lockscope-simulator-worker', onRedisError);
        this.extraRedis.add(client);
        client.once('end', () => this.extraRedis.delete(client));
        return client;
      },
      resource: (name) => this.resource(name),
      emit: (event) => this.record(event),
      log: (line) => this.out(line),
    };
  }

  private async closeClients(): Promise<void> {
    for (const c of this.extraEtcd) c.close();
    this.extraEtcd.clear();
    for (const r of this.extraRedis) r.disconnect();
    this.extraRedis.clear();
    this.etcd?.close();
    this.etcd = null;
    if (this.redis) {
      await this.redis.quit().catch(() => this.redis?.disconnect());
      this.redis.disconnect();
      this.redis = null;
    }
  }
}
