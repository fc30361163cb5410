import { parseArgs } from 'node:util';
import { LockscopeError } from '@lockscope/core';

export const PROFILES = ['demo', 'busy', 'chaos'] as const;
export type ProfileName = (typeof PROFILES)[number];

export const PATTERNS = ['leader', 'inventory', 'redis-setnx', 'redisson', 'redisson-fair', 'stall', 'crash', 'slow-dependency'] as const;
export type PatternName = (typeof PATTERNS)[number];

/** What a profile sets; flags override locks and rate. */
export interface Profile {
  name: ProfileName;
  /** Distinct lock names per multi-lock pattern (inventory SKUs, SET NX jobs). */
  locks: number;
  /** Mean acquisitions per second of each worker. */
  rate: number;
  /** Inventory contenders at peak load. */
  inventoryContenders: number;
  /** Length of one inventory load cycle (quiet, ramp to peak, back). */
  loadCycleMs: number;
  /** Leader hold range before it resigns, ms. */
  leaderHoldMs: [number, number];
  /** First stall after start and the gap between stalls (null: never). */
  stall: { firstAtMs: number; everyMs: number } | null;
  crash: { firstAtMs: number; everyMs: number } | null;
  /** Slow-dependency windows: first start, period, length. */
  slowDependency: { firstAtMs: number; everyMs: number; forMs: number } | null;
}

export const PROFILE_DEFAULTS: Record<ProfileName, Profile> = {
  demo: {
    name: 'demo',
    locks: 4,
    rate: 1,
    inventoryContenders: 8,
    loadCycleMs: 60_000,
    leaderHoldMs: [45_000, 90_000],
    stall: { firstAtMs: 8_000, everyMs: 90_000 },
    crash: { firstAtMs: 12_000, everyMs: 120_000 },
    slowDependency: { firstAtMs: 5_000, everyMs: 60_000, forMs: 25_000 },
  },
  busy: {
    name: 'busy',
    locks: 16,
    rate: 4,
    inventoryContenders: 16,
    loadCycleMs: 40_000,
    leaderHoldMs: [60_000, 120_000],
    stall: { firstAtMs: 30_000, everyMs: 180_000 },
    crash: { firstAtMs: 45_000, everyMs: 240_000 },
    slowDependency: { firstAtMs: 20_000, everyMs: 90_000, forMs: 20_000 },
  },
  chaos: {
    name: 'chaos',
    locks: 6,
    rate: 2,
    inventoryContenders: 10,
    loadCycleMs: 30_000,
    leaderHoldMs: [10_000, 30_000],
    stall: { firstAtMs: 5_000, everyMs: 30_000 },
    crash: { firstAtMs: 8_000, everyMs: 35_000 },
    slowDependency: { firstAtMs: 3_000, everyMs: 30_000, forMs: 15_000 },
  },
};

export interface SimulatorOptions {
  profile: Profile;
  seed: number;
  etcd: string[];
  redis: string;
  /** Namespace inside `/locks/` and `lock:`; '' for none. */
  prefix: string;
  patterns: PatternName[];
  /** Stop by itself after this long (null: until a signal). */
  durationMs: number | null;
  /** Report fenced writes to this collector (POST /v1/fencing; the token comes from LOCKSCOPE_FENCING_TOKEN). */
  reportFencing: { url: string; sources: { etcd: string; redis: string } } | null;
}

export const USAGE = `Usage: lockscope-simulator [options]

Runs a simulated lock fleet against real etcd and Redis.

  --profile demo|busy|chaos   mix and pace of workers (default demo)
  --locks N                   lock names per multi-lock pattern (profile default)
  --rate R                    mean acquisitions per second per worker (profile default)
  --seed S                    seed for every random choice (default 1)
  --etcd URLS                 comma-separated etcd endpoints (default http://127.0.0.1:2379)
  --redis URL                 Redis URL (default redis://127.0.0.1:6379/0)
  --prefix P                  namespace: keys go under /locks/P/ and lock:P: (default none)
  --patterns a,b              run only these (${PATTERNS.join(', ')})
  --duration D                stop by itself after D (e.g. 90s)
  --report-fencing URL        report fenced writes to the collector at URL (POST /v1/fencing;
                              needs LOCKSCOPE_FENCING_TOKEN, the collector's fencing token)
  --fencing-sources E,R       the collector's source names for etcd and Redis
                              (default etcd-demo,redis-demo)
  --help                      this text

SIGINT/SIGTERM release every held lock and exit.`;

function bad(message: string): LockscopeError {
  return new LockscopeError('BAD_REQUEST', `${message}\n\n${USAGE}`);
}

function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw bad(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
  }
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

export function parseDurationFlag(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw bad(`--duration must look like 500ms, 30s, 5m or 1h, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

function reportFencingOf(url: string | undefined, sources: string): SimulatorOptions['reportFencing'] {
  if (url === undefined) return null;
  if (!/^https?:\/\/[^\s/]+\/?$/.test(url)) throw bad(`--report-fencing takes the collector's URL, like http://127.0.0.1:9464, got ${JSON.stringify(url)}`);
  const [etcd, redis, ...rest] = sources.split(',').map((s) => s.trim());
  if (!etcd || !redis || rest.length > 0) throw bad(`--fencing-sources takes two source names, etcd's then Redis's, got ${JSON.stringify(sources)}`);
  return { url, sources: { etcd, redis } };
}

/** Parses argv (without node and script). Returns null for --help. Bad flags are BAD_REQUEST errors with the usage. */
export function parseSimulatorArgs(argv: string[]): SimulatorOptions | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        profile: { type: 'string', default: 'demo' },
        locks: { type: 'string' },
        rate: { type: 'string' },
        seed: { type: 'string', default: '1' },
        etcd: { type: 'string', default: 'http://127.0.0.1:2379' },
        redis: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
        prefix: { type: 'string', default: '' },
        patterns: { type: 'string' },
        duration: { type: 'string' },
        'report-fencing': { type: 'string' },
        'fencing-sources': { type: 'string', default: 'etcd-demo,redis-demo' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw bad((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return null;
  if (!(PROFILES as readonly string[]).includes(v.profile)) throw bad(`--profile must be one of ${PROFILES.join(', ')}, got ${JSON.stringify(v.profile)}`);
  const profile: Profile = { ...PROFILE_DEFAULTS[v.profile as ProfileName] };
  if (v.locks !== undefined) profile.locks = positive('locks', v.locks, true);
  if (v.rate !== undefined) profile.rate = positive('rate', v.rate, false);
  if (profile.locks > 10_000) throw bad('--locks is at most 10000');
  if (profile.rate > 1000) throw bad('--rate is at most 1000 per worker');

  if (!/^-?\d+$/.test(v.seed.trim())) throw bad(`--seed must be an integer, got ${JSON.stringify(v.seed)}`);
  const seed = Number(BigInt.asUintN(32, BigInt(v.seed.trim())));

  const etcd = v.etcd.split(',').map((s) => s.trim()).filter(Boolean);
  if (etcd.length === 0) throw bad('--etcd needs at least one endpoint');
  for (const e of etcd) if (!/^https?:\/\/[^\s/]+\/?$/.test(e)) throw bad(`--etcd endpoints look like http://127.0.0.1:2379, got ${JSON.stringify(e)}`);
  if (!/^rediss?:\/\/\S+$/.test(v.redis)) throw bad(`--redis must be a redis:// URL, got ${JSON.stringify(v.redis)}`);
  if (v.prefix !== '' && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v.prefix)) {
    throw bad(`--prefix is letters, digits, dot, dash or underscore, got ${JSON.stringify(v.prefix)}`);
  }

  let patterns: PatternName[] = [...PATTERNS];
  if (v.patterns !== undefined) {
    const asked = v.patterns.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = asked.filter((p) => !(PATTERNS as readonly string[]).includes(p));
    if (asked.length === 0 || unknown.length > 0) throw bad(`--patterns takes some of ${PATTERNS.join(', ')}; unknown: ${unknown.join(', ') || '(none given)'}`);
    patterns = PATTERNS.filter((p) => asked.includes(p));
  }
  return {
    profile,
    seed,
    etcd,
    redis: v.redis,
    prefix: v.prefix,
    patterns,
    durationMs: v.duration === undefined ? null : parseDurationFlag(v.duration),
    reportFencing: reportFencingOf(v['report-fencing'], v['fencing-sources']),
  };
}
