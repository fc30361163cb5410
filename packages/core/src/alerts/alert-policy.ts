import picomatch from 'picomatch';
import type { z } from 'zod';
import { alertsConfigSchema, type AlertsConfig } from '../config.js';
import { LockscopeError } from '../errors.js';
import { isAlertRule, type AlertRule } from './rule-names.js';

/** The `alerts` section as written (durations may be strings like "5m"); AlertPolicy.compile validates it. */
export type AlertsConfigInput = z.input<typeof alertsConfigSchema>;

/** What the rules need to know about a lock: its stable id and how people name it. */
export interface LockRef {
  lockId: string;
  source: string;
  /** Display name of the key (may hold any characters; never trusted as markup). */
  name: string;
}

/** The thresholds in force for one lock, after overrides. */
export interface LockThresholds {
  nearExpiryRatio: number;
  slowAcquisitionP95Ms: number;
  slowAcquisitionMinSamples: number;
  slowAcquisitionWindowMs: number;
  highContentionWaiters: number;
  highContentionForMs: number;
  maxHoldWithoutTtlMs: number;
  /** An override with `mute: true` matched: no rule fires for this lock. */
  muted: boolean;
}

interface CompiledMute {
  index: number;
  rule: AlertRule | null;
  until: number | null;
  matches: (subject: string) => boolean;
}

interface CompiledOverride {
  matches: (subject: string) => boolean;
  thresholds: LockThresholds;
}

/** Locks are matched by their name and by `source:name`; glob semantics are picomatch's with dot files allowed. */
function compileGlob(pattern: string, path: string): (subject: string) => boolean {
  try {
    const re = picomatch.makeRe(pattern, { dot: true });
    return (subject) => re.test(subject);
  } catch (error) {
    throw new LockscopeError('BAD_CONFIG', `${path}: ${JSON.stringify(pattern)} is not a valid glob (${(error as Error).message})`, { cause: error });
  }
}

function lockSubjects(source: string, name: string): string[] {
  return [name, `${source}:${name}`];
}

/**
 * Source-level alerts (source_down) are matched against the source name and
 * `source:` so that `redis-main:**` mutes a source together with its locks.
 */
function sourceSubjects(source: string): string[] {
  return [source, `${source}:`];
}

/** Bound on the per-lock threshold cache: lock names are unbounded input. */
const CACHE_LIMIT = 50_000;

/**
 * Alert configuration compiled once: per-lock thresholds (first matching
 * override wins, whole) and mutes (any matching mute silences).
 */
export class AlertPolicy {
  readonly config: AlertsConfig;
  private readonly defaults: LockThresholds;
  private readonly overrides: CompiledOverride[];
  private readonly mutes: CompiledMute[];
  private readonly cache = new Map<string, LockThresholds>();

  private constructor(config: AlertsConfig) {
    this.config = config;
    this.defaults = {
      nearExpiryRatio: config.nearExpiryRatio,
      slowAcquisitionP95Ms: config.slowAcquisitionP95Ms,
      slowAcquisitionMinSamples: config.slowAcquisitionMinSamples,
      slowAcquisitionWindowMs: config.slowAcquisitionWindow,
      highContentionWaiters: config.highContentionWaiters,
      highContentionForMs: config.highContentionFor,
      maxHoldWithoutTtlMs: config.maxHoldWithoutTtl,
      muted: false,
    };
    this.overrides = config.overrides.map((o, i) => ({
      matches: compileGlob(o.match, `alerts.overrides[${i}].match`),
      thresholds: {
        nearExpiryRatio: o.nearExpiryRatio ?? this.defaults.nearExpiryRatio,
        slowAcquisitionP95Ms: o.slowAcquisitionP95Ms ?? this.defaults.slowAcquisitionP95Ms,
        slowAcquisitionMinSamples: o.slowAcquisitionMinSamples ?? this.defaults.slowAcquisitionMinSamples,
        slowAcquisitionWindowMs: this.defaults.slowAcquisitionWindowMs,
        highContentionWaiters: o.highContentionWaiters ?? this.defaults.highContentionWaiters,
        highContentionForMs: o.highContentionFor ?? this.defaults.highContentionForMs,
        maxHoldWithoutTtlMs: o.maxHoldMs ?? this.defaults.maxHoldWithoutTtlMs,
        muted: o.mute ?? false,
      },
    }));
    this.mutes = config.mutes.map((m, i) => {
      if (m.rule !== undefined && !isAlertRule(m.rule)) {
        // parseConfig already refuses this; kept for configs built in code.
        throw new LockscopeError('BAD_CONFIG', `alerts.mutes[${i}].rule: unknown alert rule ${JSON.stringify(m.rule)}`);
      }
      const until = m.until === undefined ? null : Date.parse(m.until);
      if (until !== null && Number.isNaN(until)) {
        throw new LockscopeError('BAD_CONFIG', `alerts.mutes[${i}].until: ${JSON.stringify(m.until)} is not an ISO 8601 time`);
      }
      return { index: i, rule: m.rule ?? null, until, matches: compileGlob(m.match, `alerts.mutes[${i}].match`) };
    });
  }

  /**
   * Validates and compiles the `alerts` section. Accepts the parsed config or
   * raw input (e.g. built in code); any problem is one BAD_CONFIG error whose
   * message names the offending entry, e.g. `alerts.mutes[1].rule: unknown alert rule "near-expiry"`.
   */
  static compile(input: unknown): AlertPolicy {
    const result = alertsConfigSchema.safeParse(input ?? {});
    if (!result.success) {
      const lines = result.error.issues.slice(0, 10).map((issue) => {
        let path = 'alerts';
        for (const p of issue.path) path += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
        const message = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
        return `${path}: ${message}`;
      });
      throw new LockscopeError('BAD_CONFIG', `The alerts configuration is not valid:\n  ${lines.join('\n  ')}`);
    }
    return new AlertPolicy(result.data);
  }

  get sourceDownAfterMs(): number {
    return this.config.sourceDownAfter;
  }

  get leaseExpiredOpenForMs(): number {
    return this.config.leaseExpiredOpenFor;
  }

  thresholdsFor(source: string, name: string): LockThresholds {
    const cacheKey = `${source}\0${name}`;
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    const subjects = lockSubjects(source, name);
    const found = this.overrides.find((o) => subjects.some((s) => o.matches(s)))?.thresholds ?? this.defaults;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(cacheKey, found);
    return found;
  }

  /** The near-expiry ratio the hold tracker should use for this lock. */
  nearExpiryRatioFor(source: string, name: string): number {
    return this.thresholdsFor(source, name).nearExpiryRatio;
  }

  /** Whether `rule` is muted for a lock (name given) or for a source (name null) at `at`. */
  isMuted(rule: AlertRule, source: string, name: string | null, at: number): boolean {
    if (name !== null && this.thresholdsFor(source, name).muted) return true;
    const subjects = name === null ? sourceSubjects(source) : lockSubjects(source, name);
    return this.mutes.some((m) => (m.rule === null || m.rule === rule) && (m.until === null || at < m.until) && subjects.some((s) => m.matches(s)));
  }

  /** The next time after `at` when a mute ends (conditions held back by it must be looked at again). */
  nextMuteEnd(at: number): number | null {
    let next: number | null = null;
    for (const m of this.mutes) if (m.until !== null && m.until > at && (next === null || m.until < next)) next = m.until;
    return next;
  }
}
