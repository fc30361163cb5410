import { createRng } from './random.js';
import type { PatternName, SimulatorOptions } from './options.js';

/** Lock names and timings of one run, all derived from the options and the seed. */
export interface FleetPlan {
  seed: number;
  patterns: PatternName[];
  rate: number;
  /** etcd keys go under this (ends with '/'). */
  etcdRoot: string;
  /** Redis lock names start with this. */
  redisRoot: string;
  leader: { lock: string; candidates: string[]; ttlSec: number; holdMs: [number, number]; proclaimEveryMs: number };
  inventory: { locks: string[]; weights: number[]; contenders: number; ttlSec: number; loadCycleMs: number };
  setnx: { locks: string[]; workers: number; ttlMs: number };
  redisson: { lock: string; workers: number; watchdogMs: number; renewEveryMs: number };
  fair: { lock: string; workers: number; watchdogMs: number; renewEveryMs: number; threadWaitMs: number };
  stall: {
    etcdLock: string;
    redisLock: string;
    ttlSec: number;
    /** Redisson lockWatchdogTimeout for the fenced lock (short so the demo shows expiry within seconds). */
    redisLeaseMs: number;
    /** How long the worker freezes: past its lease, then a margin for the next holder to write. */
    pauseMs: number;
    times: Schedule | null;
  };
  crash: { etcdLock: string; redisLock: string; ttlSec: number; redisTtlMs: number; restartAfterMs: number; times: Schedule | null };
  slow: { lock: string; contenders: number; normalMs: [number, number]; slowMs: [number, number]; windows: WindowSchedule | null };
}

/** Times (ms since start) of a recurring incident: first, then every `everyMs`, each jittered by up to ±15 %. */
export class Schedule {
  private readonly cache: number[] = [];
  private readonly rng;
  constructor(
    seed: number,
    stream: string,
    readonly firstAtMs: number,
    readonly everyMs: number,
  ) {
    this.rng = createRng(seed, stream);
  }

  /** The k-th time (k from 0). */
  at(k: number): number {
    while (this.cache.length <= k) {
      const i = this.cache.length;
      const jitter = this.rng.between(-0.15, 0.15) * (i === 0 ? this.firstAtMs : this.everyMs);
      this.cache.push(Math.max(0, Math.round(this.firstAtMs + i * this.everyMs + jitter)));
    }
    return this.cache[k]!;
  }

  /** The first time strictly after `t`. */
  nextAfter(t: number): number {
    for (let k = 0; ; k++) if (this.at(k) > t) return this.at(k);
  }
}

/** Recurring windows [start, start + forMs). */
export class WindowSchedule {
  readonly starts: Schedule;
  constructor(
    seed: number,
    stream: string,
    firstAtMs: number,
    everyMs: number,
    readonly forMs: number,
  ) {
    this.starts = new Schedule(seed, stream, firstAtMs, everyMs);
  }

  contains(t: number): boolean {
    for (let k = 0; ; k++) {
      const s = this.starts.at(k);
      if (s > t) return false;
      if (t < s + this.forMs) return true;
    }
  }
}

/**
 * Active inventory contenders at time t: a triangle wave from a quarter of the
 * peak up to the peak and back over one load cycle, so acquisition latency on
 * the hot SKU visibly grows and falls.
 */
export function activeContenders(t: number, cycleMs: number, peak: number): number {
  const low = Math.max(1, Math.ceil(peak / 4));
  const phase = (t % cycleMs) / cycleMs;
  const tri = phase < 0.5 ? phase * 2 : 2 - phase * 2;
  return Math.min(peak, low + Math.round((peak - low) * tri));
}

/** Zipf-like weights: SKU 0 is the hot one. */
export function skuWeights(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 / (i + 1) ** 1.2);
}

export function planFleet(options: SimulatorOptions): FleetPlan {
  const { profile, seed, prefix } = options;
  const etcdRoot = prefix ? `/locks/${prefix}/` : '/locks/';
  const redisRoot = prefix ? `lock:${prefix}:` : 'lock:';
  const n = profile.locks;
  const stallTtlSec = 5;
  const redisLeaseMs = 6_000;
  return {
    seed,
    patterns: options.patterns,
    rate: profile.rate,
    etcdRoot,
    redisRoot,
    leader: {
      lock: `${etcdRoot}cron-leader`,
      candidates: ['scheduler-a', 'scheduler-b', 'scheduler-c'],
      ttlSec: 10,
      holdMs: profile.leaderHoldMs,
      proclaimEveryMs: 5_000,
    },
    inventory: {
      locks: Array.from({ length: n }, (_, i) => `${etcdRoot}inventory/sku-${String(i).padStart(4, '0')}`),
      weights: skuWeights(n),
      contenders: profile.inventoryContenders,
      ttlSec: 15,
      loadCycleMs: profile.loadCycleMs,
    },
    setnx: {
      locks: Array.from({ length: n }, (_, i) => `${redisRoot}job:${String(i).padStart(4, '0')}`),
      workers: Math.max(2, Math.min(n * 2, 12)),
      ttlMs: 10_000,
    },
    redisson: { lock: `${redisRoot}orders`, workers: 3, watchdogMs: 30_000, renewEveryMs: 10_000 },
    fair: { lock: `${redisRoot}checkout`, workers: 4, watchdogMs: 30_000, renewEveryMs: 10_000, threadWaitMs: 5_000 },
    stall: {
      etcdLock: `${etcdRoot}payments`,
      redisLock: `${redisRoot}ledger`,
      ttlSec: stallTtlSec,
      redisLeaseMs,
      pauseMs: Math.max(stallTtlSec * 1000, redisLeaseMs) + 4_000,
      times: profile.stall ? new Schedule(seed, 'stall', profile.stall.firstAtMs, profile.stall.everyMs) : null,
    },
    crash: {
      etcdLock: `${etcdRoot}reports`,
      redisLock: `${redisRoot}export`,
      ttlSec: 5,
      redisTtlMs: 5_000,
      restartAfterMs: 10_000,
      times: profile.crash ? new Schedule(seed, 'crash', profile.crash.firstAtMs, profile.crash.everyMs) : null,
    },
    slow: {
      lock: `${etcdRoot}pricing`,
      contenders: 4,
      normalMs: [2, 8],
      slowMs: [90, 220],
      windows: profile.slowDependency
        ? new WindowSchedule(seed, 'slow', profile.slowDependency.firstAtMs, profile.slowDependency.everyMs, profile.slowDependency.forMs)
        : null,
    },
  };
}
