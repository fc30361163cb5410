/**
 * Safety hazards: what the literature on distributed locks warns about, found in what
 * Lockscope observes. Kinds are a contract (lockctl doctor --json, the API, docs/hazards.md).
 */
export const HAZARD_KINDS = [
  'unsafe_handover',
  'stale_token_accepted',
  'stale_token_refused',
  'token_regression',
  'deadlock',
  'renewed_forever',
  'no_ttl',
  'ttl_too_short',
  'ttl_too_long',
  'no_fencing',
  'hot_lock',
  'single_node_redis',
  'minority_hold',
  'split_quorum',
  'lost_in_failover',
] as const;

export type HazardKind = (typeof HAZARD_KINDS)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** The kinds that page (through the alert rules, mutes and webhooks) when found live. */
export const CRITICAL_HAZARD_KINDS = ['unsafe_handover', 'stale_token_accepted', 'token_regression', 'deadlock', 'lost_in_failover'] as const satisfies readonly HazardKind[];

export function isHazardKind(name: string): name is HazardKind {
  return (HAZARD_KINDS as readonly string[]).includes(name);
}

/** One hazard found, with its evidence (JSON-safe). */
export interface Hazard {
  /** Stable while the same hazard lasts: `<kind>|<lock ids>|<first seen>`. */
  id: string;
  kind: HazardKind;
  severity: Severity;
  source: string;
  /** The lock (for a deadlock: the first lock of the cycle; `locks` lists all). */
  lockId: string | null;
  lockName: string | null;
  /** Wall ms when it began (a handover: the second acquisition). */
  since: number;
  /** Wall ms when it ended; null while it lasts. */
  until: number | null;
  holders: string[];
  tokens: string[];
  /** One sentence for a person: what happened and why it matters. */
  detail: string;
  evidence: Record<string, unknown>;
}

/** The lock a hazard is about, as the collector knows it. */
export interface HazardLockRef {
  lockId: string;
  source: string;
  name: string;
}
