// A simulated fleet of locks for the scale benchmark (scale-bench.ts). Each lock
// has a ground truth (who holds it, when the holder renews, stalls, releases, who
// queues), turned into the LockObservations the etcd and Redis sources report and
// fed through core's real LockTracker, with the collector's timers (near-expiry
// and expiry checkpoints, etcd lease checks) replayed on simulated time. Events,
// completed holds, live lock rows and per-minute RollupAccumulator rows are built
// the way apps/collector/src/collector.ts builds them, so the store receives what
// the collector would write. Time is simulated: a week runs in minutes.
import {
  DEFAULT_NEAR_EXPIRY_RATIO,
  DueHeap,
  lockId,
  LockTracker,
  RollupTier,
  waitersObservable,
  type ApplyResult,
  type CheckpointLease,
  type Dialect,
  type HoldEndReason,
  type HoldObservation,
  type LockObservation,
  type WaiterObservation,
} from '@lockscope/core';
import { lockRowOf, type EventRow, type HoldRow, type LockRow, type RollupRow, type SourceRow, type WriteBatch } from '@lockscope/store';

export const SIM_SOURCES = [
  { name: 'etcd-main', kind: 'etcd' },
  { name: 'redis-main', kind: 'redis' },
  { name: 'redis-jobs', kind: 'redis' },
] as const;
type SourceName = (typeof SIM_SOURCES)[number]['name'];

/** Share of the fleet per dialect (a mix of etcd and Redis lock libraries). */
const DIALECT_MIX: [Dialect, number][] = [
  ['etcd-mutex', 0.3],
  ['etcd-lease-key', 0.15],
  ['redis-string', 0.3],
  ['redisson', 0.15],
  ['redisson-fair', 0.1],
];
const SERVICES = ['billing', 'orders', 'search', 'payments', 'inventory', 'mailer', 'reports', 'auth', 'ledger', 'ingest', 'cron', 'shipping'];
const JOBS = ['leader', 'compaction', 'reindex', 'settle', 'export', 'sweep', 'rotate', 'sync', 'rebalance', 'snapshot'];
const MAX_VISIBLE_QUEUE = 12;
/** Standby replicas of a leader election that are restarted now and then. */
const LEADER_STANDBYS = 2;
const LEADER_ARRIVALS_PER_MS = 1 / (20 * 60_000);
const MAX_HIDDEN_CONTENDERS = 8;
const LONG_LEASE_MS = 60 * 60_000;
/**
 * How long before the end the designated long-lease locks get a holder that stops
 * renewing: it crosses 0.8 x TTL two minutes before the end and would lapse ten
 * minutes after it, so they are near expiry while the dashboard is measured.
 */
export const ENDGAME_MS = 50 * 60_000;
const HOUR = 3_600_000;

type RenewMode = 'keepalive' | 'watchdog' | 'extend' | 'none';

export interface Profile {
  index: number;
  source: SourceName;
  dialect: Dialect;
  name: string;
  key: Uint8Array;
  id: string;
  /**
   * leader: elections held for hours with standbys queued (renewals are most of
   * their events); job: short critical sections, many acquisitions.
   */
  role: 'leader' | 'job';
  /** Share of the job locks' arrivals (Zipf by a random rank); 0 for leaders. */
  weight: number;
  /** Median hold before contention caps it. */
  holdMedianMs: number;
  /** Highest share of time a job lock is held: busy locks get short holds and queues. */
  utilization: number;
  ttlMs: number | null;
  renew: RenewMode;
  /** Probability that a hold's holder stops renewing and never releases (its lease lapses). */
  stallChance: number;
  /** Long leases that get a stalled holder shortly before the end: near expiry "now". */
  endgame: boolean;
}

interface Contender {
  /** holdId once it holds, waiter id while it waits. */
  id: string;
  holder: string;
  token: string | null;
  lease: string | null;
  since: number;
  giveUpAt: number;
}

interface Truth {
  c: Contender;
  acquiredAt: number;
  /** Renewal period (0: none). */
  period: number;
  visibleRenewals: boolean;
  stallAt: number;
  /** When the end is observed, and how it ended. */
  endAt: number;
  endReason: 'released' | 'expired';
  /** Truth lease lapse (Infinity while it keeps renewing or has no TTL). */
  lapseAt: number;
  nextRenewAt: number;
}

interface SimLock {
  p: Profile;
  tracker: LockTracker | null;
  truth: Truth | null;
  queue: Contender[];
  hidden: number;
  nextArrival: number;
  pendingAcquireAt: number;
  pendingFromQueue: boolean;
  stallNext: boolean;
  /** The collector's timers for this lock (null: none). */
  nearAt: number | null;
  expAt: number | null;
  dirty: boolean;
}

export interface SimTotals {
  events: number;
  holds: number;
  /** Distinct (lock, minute) rollup rows. */
  rollupRows: number;
  /** Rollup upserts written (the current minute is rewritten as it fills, as the collector does). */
  rollupWrites: number;
  lockWrites: number;
  observations: number;
}

export interface FleetSimOptions {
  locks: number;
  /** Events the run should produce between `start` and `start + spanMs`. */
  targetEvents: number;
  start: number;
  spanMs: number;
  seed: number;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();

export function buildProfiles(count: number, seed: number): Profile[] {
  const rand = mulberry32(seed ^ 0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const dialects: Dialect[] = [];
  for (const [d, share] of DIALECT_MIX) for (let i = 0; i < Math.round(share * count); i++) dialects.push(d);
  while (dialects.length < count) dialects.push('redis-string');
  dialects.length = count;
  shuffle(dialects, rand);
  const ranks = Array.from({ length: count }, (_, i) => i);
  shuffle(ranks, rand);
  const harmonic = ranks.reduce((s, _, r) => s + 1 / (r + 1), 0);
  return dialects.map((dialect, index) => {
    // About 3% leader elections, on the dialects used for them.
    const role = index % 33 === 5 && dialect !== 'redis-string' ? 'leader' : 'job';
    const svc = SERVICES[index % SERVICES.length]!;
    const job = `${pick(JOBS)}-${index}`;
    const isEtcd = dialect.startsWith('etcd');
    const source: SourceName = isEtcd ? 'etcd-main' : index % 2 === 0 ? 'redis-main' : 'redis-jobs';
    const name =
      dialect === 'etcd-mutex'
        ? `/locks/${svc}/${job}`
        : dialect === 'etcd-lease-key'
          ? `/leases/${svc}/${job}`
          : dialect === 'redis-string'
            ? `lock:${svc}:${job}`
            : dialect === 'redisson'
              ? `redisson:${svc}:${job}`
              : `redisson:fair:${svc}:${job}`;
    const endgame = index % 100 === 7 && dialect !== 'etcd-mutex' && dialect !== 'redisson-fair';
    let ttlMs: number | null;
    let renew: RenewMode;
    if (endgame) {
      ttlMs = LONG_LEASE_MS;
      renew = isEtcd ? 'keepalive' : dialect === 'redis-string' ? 'extend' : 'watchdog';
    } else if (dialect === 'etcd-mutex') {
      ttlMs = pick([10_000, 15_000, 30_000, 60_000]);
      renew = 'keepalive';
    } else if (dialect === 'etcd-lease-key') {
      ttlMs = pick([5_000, 10_000, 30_000]);
      renew = 'keepalive';
    } else if (dialect === 'redis-string') {
      ttlMs = rand() < 0.04 ? null : pick([2_000, 5_000, 10_000, 30_000, 60_000]);
      renew = ttlMs !== null && rand() < 0.3 ? 'extend' : 'none';
    } else {
      ttlMs = 30_000;
      renew = 'watchdog';
    }
    const observable = waitersObservable(dialect);
    const utilization = observable ? 0.3 + 0.6 * rand() : 0.1 + 0.5 * rand();
    const key = enc.encode(name);
    return {
      index,
      source,
      dialect,
      name,
      key,
      id: lockId(source, key),
      role,
      weight: role === 'leader' ? 0 : 1 / (ranks[index]! + 1) / harmonic,
      // Leaders: hours. Jobs: log-uniform from 30 ms to 15 s.
      holdMedianMs: role === 'leader' ? 3 * HOUR : 30 * Math.exp(Math.log(500) * rand()),
      utilization,
      ttlMs,
      renew,
      stallChance: rand() < 0.05 ? 0.03 : 0.002,
      endgame,
    };
  });
}

function shuffle<T>(xs: T[], rand: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}

/**
 * The fleet over simulated time. `runUntil` advances it; `takeBatch` returns
 * what a collector flush at that moment would write.
 */
export class FleetSim {
  readonly totals: SimTotals = { events: 0, holds: 0, rollupRows: 0, rollupWrites: 0, lockWrites: 0, observations: 0 };
  now: number;
  private readonly rand: () => number;
  private readonly locks: SimLock[];
  private readonly heap = new DueHeap();
  /** Job-lock arrivals per ms at k = 1; `k` is set by calibrate() and nudged hourly by control(). */
  private readonly baseRate: number;
  k = 1;
  private readonly seq: Record<SourceName, number> = { 'etcd-main': 1_000, 'redis-main': 0, 'redis-jobs': 0 };
  private contenders = 0;
  /** Minute and hour rollups, as the collector keeps them. */
  private readonly tiers: [RollupTier, RollupTier] = [new RollupTier('minute'), new RollupTier('hour')];
  private events: EventRow[] = [];
  private holds: HoldRow[] = [];
  private readonly lastEventAt = new Map<SourceName, number>();
  private endgameDone = false;
  nextControlAt: number;
  private controlEvents = 0;
  private readonly end: number;

  constructor(private readonly options: FleetSimOptions, profiles = buildProfiles(options.locks, options.seed)) {
    this.rand = mulberry32(options.seed);
    this.now = options.start;
    this.end = options.start + options.spanMs;
    // About three events per hold (acquired, released, some waiter and renewal events); calibrate() corrects it.
    this.baseRate = options.targetEvents / options.spanMs / 3;
    this.nextControlAt = options.start + HOUR;
    this.locks = profiles.map((p) => ({
      p,
      tracker: null,
      truth: null,
      queue: [],
      hidden: 0,
      nextArrival: Infinity,
      pendingAcquireAt: Infinity,
      pendingFromQueue: false,
      stallNext: false,
      nearAt: null,
      expAt: null,
      dirty: false,
    }));
    for (const l of this.locks) {
      l.nextArrival = this.now + this.exp(this.lambda(l));
      this.reschedule(l);
    }
  }

  /**
   * Advances simulated time up to `until` (exclusive), or until `maxPending`
   * events are waiting to be written. Returns true when `until` was reached.
   * `endgameAt`: when the long-lease locks get their stalled holders.
   */
  runUntil(until: number, maxPending = Infinity, endgameAt = Infinity): boolean {
    for (;;) {
      if (this.events.length >= maxPending) return false;
      const due = this.heap.peek();
      if (due === null || due >= until) {
        this.now = Math.max(this.now, until);
        return true;
      }
      if (!this.endgameDone && due >= endgameAt) this.endgame(endgameAt);
      if (due >= this.nextControlAt) this.control();
      this.now = due;
      for (const { key } of this.heap.takeDue(due)) {
        const lock = this.locks[Number(key)]!;
        this.step(lock, due);
        this.reschedule(lock);
      }
    }
  }

  /** Drops what would be written (calibration runs). */
  discardPending(): void {
    this.events = [];
    this.holds = [];
    for (const tier of this.tiers) tier.flush(false, this.now, () => undefined);
  }

  /** Rollup rows still open in memory (written again as they fill). */
  get openRollups(): number {
    return this.tiers[0].size + this.tiers[1].size;
  }

  /**
   * Sets the arrival-rate multiplier so that `options` produce about their target
   * event rate: a few throwaway simulated hours, scaled and repeated.
   */
  static calibrate(options: FleetSimOptions, profiles: Profile[]): number {
    let k = 1;
    const hours = 3;
    for (let round = 0; round < 3; round++) {
      const sim = new FleetSim({ ...options, seed: options.seed + 7919 * (round + 1) }, profiles);
      sim.k = k;
      sim.nextControlAt = Infinity;
      // One hour to fill the fleet (everything starts free), then measure.
      for (let h = 0; h < 1 + hours; h++) {
        if (h === 1) sim.totals.events = 0;
        for (let m = 1; m <= 60; m++) {
          sim.runUntil(options.start + h * HOUR + m * 60_000);
          sim.discardPending();
        }
      }
      const wanted = (options.targetEvents / options.spanMs) * hours * HOUR;
      k *= Math.min(4, Math.max(0.25, wanted / Math.max(1, sim.totals.events)));
    }
    return k;
  }

  /**
   * What a collector flush at `now` writes: the events and holds since the last
   * one, the changed live lock rows, the source rows and (unless `rollups` is
   * false: the collector writes them every 2 s) the rollups touched, after which
   * closed minutes are dropped from memory.
   */
  takeBatch(now: number, { rollups: withRollups = true }: { rollups?: boolean } = {}): WriteBatch {
    const events = this.events;
    const holds = this.holds;
    this.events = [];
    this.holds = [];
    const locks: LockRow[] = [];
    for (const l of this.locks) {
      if (!l.tracker || !l.dirty) continue;
      locks.push(lockRowOf(l.tracker, now));
      l.dirty = false;
    }
    const rollups: RollupRow[] = [];
    const rollupHours: RollupRow[] = [];
    if (withRollups) {
      this.tiers.forEach((tier, i) => {
        const out = i === 0 ? rollups : rollupHours;
        const closed = tier.flush(false, now, (acc) => {
          const row = acc.toRow();
          out.push({ ...row, bucket: Number(row.bucket) });
        });
        if (i === 0) this.totals.rollupRows += closed;
      });
    }
    const sources: SourceRow[] = SIM_SOURCES.map((s) => ({
      name: s.name,
      kind: s.kind,
      connected: true,
      lastError: null,
      lastEventAt: this.lastEventAt.get(s.name) ?? null,
      lastSeenAt: now,
      ingestLagMs: 5 + Math.floor(this.rand() * 60),
      resumeRevision: s.kind === 'etcd' ? String(this.seq[s.name]) : null,
      lockCount: this.locks.filter((l) => l.p.source === s.name && l.tracker).length,
      updatedAt: now,
    }));
    this.totals.lockWrites += locks.length;
    this.totals.rollupWrites += rollups.length + rollupHours.length;
    return { sources, locks, holds, events, rollups, rollupHours };
  }

  /** Multiplies the arrival rate so the run ends near its target event count. */
  private control(): void {
    const at = this.nextControlAt;
    this.nextControlAt += HOUR;
    const recent = this.totals.events - this.controlEvents;
    this.controlEvents = this.totals.events;
    if (at > this.end || recent === 0) return;
    const remaining = this.end - at;
    const needed = ((this.options.targetEvents - this.totals.events) / remaining) * HOUR;
    const factor = Math.min(1.5, Math.max(0.67, needed / recent));
    this.k *= Math.sqrt(factor);
  }

  private endgame(at: number): void {
    this.endgameDone = true;
    for (const l of this.locks) {
      if (!l.p.endgame) continue;
      l.stallNext = true;
      // A redeploy: the current holder lets go, a new worker takes over and hangs without renewing.
      if (l.truth && l.truth.endAt > at + 1) {
        l.truth.endAt = at + 1;
        l.truth.endReason = 'released';
        l.truth.nextRenewAt = Infinity;
      }
      l.hidden = Math.max(1, l.hidden);
      if (!l.truth) l.pendingAcquireAt = Math.min(l.pendingAcquireAt, at + 5);
      this.reschedule(l);
    }
  }

  private lambda(l: SimLock): number {
    return l.p.role === 'leader' ? LEADER_ARRIVALS_PER_MS : this.baseRate * this.k * l.p.weight;
  }

  private exp(rate: number): number {
    return rate > 0 ? -Math.log(1 - this.rand()) / rate : Infinity;
  }

  private normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.rand())) * Math.cos(2 * Math.PI * this.rand());
  }

  private nextDue(l: SimLock): number {
    let t = Math.min(l.nextArrival, l.pendingAcquireAt);
    if (l.truth) t = Math.min(t, l.truth.endAt, l.truth.nextRenewAt);
    for (const w of l.queue) t = Math.min(t, w.giveUpAt);
    if (l.nearAt !== null) t = Math.min(t, l.nearAt);
    if (l.expAt !== null) t = Math.min(t, l.expAt);
    return t;
  }

  private reschedule(l: SimLock): void {
    const t = this.nextDue(l);
    // Sources report whole milliseconds.
    if (Number.isFinite(t)) this.heap.schedule(String(l.p.index), Math.max(Math.ceil(t), this.now));
    else this.heap.cancel(String(l.p.index));
  }

  /** Runs the lock's earliest due action at `t`. */
  private step(l: SimLock, t: number): void {
    const truth = l.truth;
    if (l.nearAt !== null && l.nearAt <= t) {
      l.nearAt = null;
      this.timer(l, t, 'near');
    } else if (l.expAt !== null && l.expAt <= t) {
      l.expAt = null;
      this.timer(l, t, 'exp');
    } else if (truth && truth.endAt <= t) {
      this.endHold(l, t);
    } else if (truth && truth.nextRenewAt <= t) {
      this.renew(l, t);
    } else if (l.pendingAcquireAt <= t) {
      l.pendingAcquireAt = Infinity;
      this.pendingAcquire(l, t);
    } else if (l.nextArrival <= t) {
      l.nextArrival = t + this.exp(this.lambda(l));
      this.arrive(l, t);
    } else {
      // A contender gives up (tryLock timeout): its etcd key or fair-queue entry is deleted.
      const w = l.queue.findIndex((c) => c.giveUpAt <= t);
      if (w >= 0) {
        l.queue.splice(w, 1);
        this.seq[l.p.source] += 1;
        this.observe(l, t, null);
      }
    }
  }

  private newContender(l: SimLock, t: number): Contender {
    const n = ++this.contenders;
    const patience = this.patience(l);
    switch (l.p.dialect) {
      case 'etcd-mutex': {
        const rev = ++this.seq['etcd-main'];
        const lease = (0x694d7b0e00000000n + BigInt(n)).toString(16);
        const ownerHex = Buffer.from(`${l.p.name}/${lease}`).toString('hex');
        return { id: `${ownerHex}@${rev}`, holder: lease, token: String(rev), lease, since: t, giveUpAt: t + patience };
      }
      case 'etcd-lease-key': {
        const lease = (0x694d7b0e00000000n + BigInt(n)).toString(16);
        return { id: '', holder: `${SERVICES[n % SERVICES.length]}-worker-${n % 97}`, token: null, lease, since: t, giveUpAt: Infinity };
      }
      case 'redis-string': {
        const value = `${(Math.imul(n, 2654435761) >>> 0).toString(36)}${n.toString(36)}`;
        return { id: value, holder: value, token: null, lease: null, since: t, giveUpAt: Infinity };
      }
      default: {
        const client = `8743c9c0-${(1000 + (n % 40)).toString(16).padStart(4, '0')}-4c5e-9d1a-51e2a7c3b${(n % 40).toString(16).padStart(3, '0')}`;
        const id = `${client}:${40 + (n % 200)}`;
        return { id, holder: id, token: null, lease: null, since: t, giveUpAt: t + patience };
      }
    }
  }

  /** How long a visible waiter waits before giving up (tryLock with a timeout); most etcd contenders block. */
  private patience(l: SimLock): number {
    if (l.p.role === 'leader') return Infinity;
    if (l.p.dialect === 'etcd-mutex') return this.rand() < 0.8 ? Infinity : 5_000 + 55_000 * this.rand();
    if (l.p.dialect === 'redisson-fair') return 10_000 + 50_000 * this.rand();
    return Infinity;
  }

  private arrive(l: SimLock, t: number): void {
    if (!l.truth && l.pendingAcquireAt === Infinity) {
      this.startHold(l, this.newContender(l, t), t);
      return;
    }
    if (waitersObservable(l.p.dialect)) {
      if (l.queue.length >= (l.p.role === 'leader' ? LEADER_STANDBYS : MAX_VISIBLE_QUEUE)) return;
      const c = this.newContender(l, t);
      if (l.p.dialect === 'redisson-fair') this.seq[l.p.source] += 1;
      l.queue.push(c);
      this.observe(l, t, null);
    } else {
      l.hidden = Math.min(l.p.role === 'leader' ? LEADER_STANDBYS : MAX_HIDDEN_CONTENDERS, l.hidden + 1);
    }
  }

  private startHold(l: SimLock, c: Contender, t: number, endCause?: HoldEndReason): void {
    const p = l.p;
    if (p.dialect === 'etcd-lease-key') {
      const rev = ++this.seq['etcd-main'];
      c.id = `@${rev}`;
      c.token = String(rev);
    } else if (p.dialect !== 'etcd-mutex') {
      this.seq[p.source] += 1;
    }
    const lambda = this.lambda(l);
    let median = p.holdMedianMs;
    if (p.role === 'job' && lambda > 0) median = Math.min(median, p.utilization / (lambda * 1.2));
    if (p.renew === 'none' && p.ttlMs !== null) median = Math.min(median, p.ttlMs / 4);
    if (p.endgame) median = Math.min(median, 20 * 60_000);
    const duration = Math.max(2, Math.round(median * Math.exp(0.6 * this.normal())));
    const period = p.ttlMs === null ? 0 : Math.round(p.renew === 'keepalive' || p.renew === 'watchdog' ? p.ttlMs / 3 : p.renew === 'extend' ? p.ttlMs / 2 : 0);
    const stalled = p.ttlMs !== null && (l.stallNext || this.rand() < p.stallChance);
    const stallAt = l.stallNext ? t : stalled ? t + duration * (0.2 + 0.8 * this.rand()) : Infinity;
    l.stallNext = false;
    const releaseAt = stalled ? Infinity : t + duration;
    let lapseAt = Infinity;
    if (p.ttlMs !== null) {
      if (period === 0) lapseAt = t + p.ttlMs;
      else if (stalled) lapseAt = t + Math.floor((stallAt - t) / period + 1e-9) * period + p.ttlMs;
    }
    const expired = lapseAt < releaseAt;
    // etcd deletes the keys of an expired lease at once; Redis reports an expired key lazily.
    const observedLapse = lapseAt + (p.source === 'etcd-main' ? this.rand() * 5 : this.rand() * 200);
    const visibleRenewals = p.renew === 'watchdog' || p.renew === 'extend';
    const endAt = expired ? observedLapse : releaseAt;
    const firstRenew = visibleRenewals && period > 0 ? t + period : Infinity;
    l.truth = {
      c,
      acquiredAt: t,
      period,
      visibleRenewals,
      stallAt,
      endAt,
      endReason: expired ? 'expired' : 'released',
      lapseAt,
      nextRenewAt: firstRenew < Math.min(stallAt, endAt) ? firstRenew : Infinity,
    };
    this.observe(l, t, { ttl: p.ttlMs, fresh: true }, endCause);
  }

  private endHold(l: SimLock, t: number): void {
    const truth = l.truth!;
    l.truth = null;
    const cause = truth.endReason;
    const p = l.p;
    if (p.dialect === 'etcd-mutex') {
      this.seq['etcd-main'] += 1;
      const next = l.queue.shift();
      if (next) {
        this.startHold(l, next, t, cause);
        return;
      }
      if (l.hidden > 0 || l.stallNext) {
        l.hidden = Math.max(0, l.hidden - 1);
        l.pendingAcquireAt = t + 5 + this.rand() * 50;
      }
      this.observe(l, t, null, cause);
      return;
    }
    if (p.dialect !== 'etcd-lease-key') this.seq[p.source] += 1;
    else this.seq['etcd-main'] += 1;
    if (p.dialect === 'redisson-fair' && l.queue.length > 0) {
      l.pendingAcquireAt = t + 1 + this.rand() * 10;
      l.pendingFromQueue = true;
    } else if (l.hidden > 0) {
      // Invisible contenders retry on their own schedule (spin with backoff, pub/sub).
      l.pendingAcquireAt = t + 5 + this.rand() * 150;
    }
    this.observe(l, t, null, cause);
  }

  private pendingAcquire(l: SimLock, t: number): void {
    if (l.truth) return;
    if (l.pendingFromQueue) {
      l.pendingFromQueue = false;
      const next = l.queue.shift();
      if (next) {
        this.startHold(l, next, t);
        return;
      }
      if (l.hidden === 0 && !l.stallNext) return;
    }
    l.hidden = Math.max(0, l.hidden - 1);
    this.startHold(l, this.newContender(l, t), t);
  }

  private renew(l: SimLock, t: number): void {
    const truth = l.truth!;
    const next = t + truth.period;
    truth.nextRenewAt = next < Math.min(truth.stallAt, truth.endAt) ? next : Infinity;
    this.seq[l.p.source] += 1;
    this.observe(l, t, { ttl: l.p.ttlMs, fresh: true, renewedAt: t });
  }

  /** Last grant or renewal of the current truth hold at `t`. */
  private lastGrant(truth: Truth, t: number): number {
    if (truth.period === 0) return truth.acquiredAt;
    const upTo = Math.min(t, truth.stallAt);
    return truth.acquiredAt + Math.floor((upTo - truth.acquiredAt) / truth.period + 1e-9) * truth.period;
  }

  /** The collector's near-expiry or expiry timer: a checkpoint, with a lease check where the collector makes one. */
  private timer(l: SimLock, t: number, kind: 'near' | 'exp'): void {
    const tracker = l.tracker;
    if (!tracker?.hold) return;
    const needsCheck = kind === 'exp' || l.p.source === 'etcd-main';
    let check: CheckpointLease | undefined;
    if (needsCheck) {
      const truth = l.truth;
      if (!truth || truth.c.id !== tracker.hold.holdId || t >= truth.lapseAt) check = { exists: false, remainingMs: null, ttlMs: null };
      else if (l.p.ttlMs === null) check = { exists: true, remainingMs: null, ttlMs: null };
      else {
        const left = this.lastGrant(truth, t) + l.p.ttlMs - t;
        // etcd answers LeaseTimeToLive in whole seconds; Redis PTTL in ms.
        check = { exists: true, remainingMs: l.p.source === 'etcd-main' ? Math.floor(left / 1000) * 1000 : Math.round(left), ttlMs: l.p.ttlMs };
      }
    }
    this.handle(l, tracker.checkpoint(t, check), t);
  }

  private holdObservation(l: SimLock, t: number, lease: { ttl: number | null; fresh: boolean; renewedAt?: number } | null): HoldObservation | null {
    const truth = l.truth;
    if (!truth) return null;
    const p = l.p;
    const c = truth.c;
    const ttl = p.ttlMs;
    const isEtcd = p.source === 'etcd-main';
    // Sources read the lease (etcd LeaseTimeToLive, Redis PTTL) when they see a hold change.
    const remaining =
      ttl === null || !lease?.fresh ? null : isEtcd ? Math.floor((this.lastGrant(truth, t) + ttl - t) / 1000) * 1000 : Math.max(0, Math.round(this.lastGrant(truth, t) + ttl - t));
    const hold: HoldObservation = { holdId: c.id, holder: c.holder, token: c.token, ttlMs: ttl, remainingMs: remaining };
    if (isEtcd) hold.lease = c.lease;
    if (p.dialect === 'etcd-mutex') hold.waiterId = c.id;
    if (lease?.renewedAt !== undefined) hold.renewedAt = lease.renewedAt;
    return hold;
  }

  private waiterObservations(l: SimLock): WaiterObservation[] | null {
    if (!waitersObservable(l.p.dialect)) return null;
    return l.queue.map((c) =>
      l.p.dialect === 'etcd-mutex'
        ? { id: c.id, holder: c.holder, since: c.since, token: c.token }
        : { id: c.id, holder: c.holder, since: c.since, deadline: Number.isFinite(c.giveUpAt) ? c.giveUpAt : null },
    );
  }

  private observe(l: SimLock, t: number, lease: { ttl: number | null; fresh: boolean; renewedAt?: number } | null, endCause?: HoldEndReason): void {
    const p = l.p;
    const obs: LockObservation = {
      source: p.source,
      key: p.key,
      dialect: p.dialect,
      at: t,
      seq: BigInt(this.seq[p.source]),
      hold: this.holdObservation(l, t, lease),
      waiters: this.waiterObservations(l),
    };
    if (endCause) obs.endCause = endCause;
    if (p.source === 'etcd-main') obs.revision = String(this.seq['etcd-main']);
    l.tracker ??= LockTracker.create({ source: p.source, key: p.key, dialect: p.dialect, at: t }, { nearExpiryRatio: DEFAULT_NEAR_EXPIRY_RATIO });
    this.totals.observations += 1;
    this.handle(l, l.tracker.apply(obs), t);
  }

  /** Collector.handle: events, the completed hold, the minute's rollup, the live row, the timers. */
  private handle(l: SimLock, result: ApplyResult, t: number): void {
    if (!result.changed) return;
    const tracker = l.tracker!;
    const id = tracker.lockId;
    const source = l.p.source;
    const at = result.events[0]?.at ?? t;
    const accs = this.tiers.map((tier) => tier.accumulator(id, source, tier.bucketOf(at)));
    for (const event of result.events) {
      this.events.push({
        lockId: id,
        source,
        at: event.at,
        type: event.type,
        holder: event.holder,
        token: event.token,
        ttlMs: event.ttlMs,
        valueMs: event.valueMs === null ? null : Math.round(event.valueMs),
        revision: event.revision ?? null,
        detail: event.detail ? JSON.stringify(event.detail) : null,
      });
      if (event.type === 'acquired') for (const acc of accs) acc.recordAcquisition(result.acquired?.waitMs ?? null);
      else if (event.type === 'near_expiry') for (const acc of accs) acc.recordNearExpiry();
    }
    this.totals.events += result.events.length;
    if (result.events.length > 0) this.lastEventAt.set(source, Math.max(this.lastEventAt.get(source) ?? 0, result.events.at(-1)!.at));
    if (result.completed) {
      this.holds.push({ lockId: id, ...result.completed });
      this.totals.holds += 1;
      for (const acc of accs) acc.recordHoldEnd(result.completed.heldMs, result.completed.endReason);
    }
    const waiters = tracker.waiters;
    if (waiters) for (const acc of accs) acc.sampleWaiters(waiters.length);
    this.tiers.forEach((tier, i) => tier.dirty.add(accs[i]!));
    l.dirty = true;
    const near = tracker.nextNearExpiryAt();
    const expires = tracker.expiresAt();
    l.nearAt = near;
    l.expAt = expires === null ? null : expires + 50;
  }
}

