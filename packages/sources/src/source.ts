import type { LiveLock, LockObservation } from '@lockscope/core';

/** Health a source reports about itself. */
export interface SourceHealth {
  name: string;
  kind: 'etcd' | 'redis';
  connected: boolean;
  /** Last error seen, in a sentence a person can act on; null when healthy. */
  lastError: string | null;
  /** Wall ms of the last backend event received. */
  lastEventAt: number | null;
  /** Wall ms the backend last answered (event, progress notify, ping). */
  lastSeenAt: number | null;
  /** Backend version when known (etcd server version, Redis version). */
  version?: string | null;
  /** Redis: whether keyspace notifications cover what the source needs. */
  notifications?: 'on' | 'enabled-by-lockscope' | 'off' | null;
}

/** Where a watching source delivers what it sees. Calls are synchronous and cheap. */
export interface ObservationSink {
  observe(observation: LockObservation): void;
  /**
   * Called after a full resync (connect, reconnect, etcd compaction): the set of
   * lock keys (hex) that exist now. Locks the sink knows of that are missing
   * ended while nobody watched.
   */
  resynced?(source: string, liveKeysHex: Set<string>, at: number): void;
  /** The etcd revision up to which everything has been delivered (persist for resume). */
  progress?(source: string, revision: string): void;
  health?(health: SourceHealth): void;
}

export interface WatchOptions {
  sink: ObservationSink;
  /** etcd: resume after this revision (the last one persisted). */
  resumeRevision?: string | null;
}

/** What a live lease check tells the collector at a near-expiry or expiry checkpoint. */
export interface LeaseCheck {
  /** The hold identified by holdId still exists. */
  exists: boolean;
  /** Remaining TTL in ms now (null: no TTL). */
  remainingMs: number | null;
  ttlMs: number | null;
}

export interface ReleaseRequest {
  /** Lock name as shown by list() (display name). */
  name: string;
  /** The hold observed by the caller; the release is refused if the lock changed since. */
  expectHoldId?: string;
  expectToken?: string | null;
  expectHolder?: string | null;
  /** etcd: also revoke the holder's lease (deleting every key attached to it). */
  revokeLease?: boolean;
  /** Only describe what would happen. */
  dryRun?: boolean;
}

export interface ReleaseResult {
  released: boolean;
  lock: LiveLock;
  /** What was (or would be) done, step by step, for the person at the terminal. */
  actions: string[];
  /** etcd --revoke-lease: every key attached to the lease. */
  leaseKeys?: string[];
}

/**
 * One backend adapter. Construction never connects; each method connects as it
 * needs to, and stop() releases every socket and timer.
 */
export interface LockSource {
  readonly name: string;
  readonly kind: 'etcd' | 'redis';
  /** Start watching; returns once the initial sync has been delivered. Reconnects by itself. */
  watch(options: WatchOptions): Promise<void>;
  /** A live snapshot of every lock under the configured prefixes/patterns. */
  list(): Promise<LiveLock[]>;
  /** Look up one lock by display name (null if no such lock is visible). */
  get(name: string): Promise<LiveLock | null>;
  /** Guarded force-release of exactly the observed hold (never a blind delete). */
  release(request: ReleaseRequest): Promise<ReleaseResult>;
  /** Live check of a hold's lease, for timers at 0.8 x TTL and at predicted expiry. */
  checkLease(key: Uint8Array, holdId: string): Promise<LeaseCheck>;
  /** Probe reachability, version and configuration (for `lockctl sources`). */
  probe(): Promise<SourceHealth>;
  health(): SourceHealth;
  stop(): Promise<void>;
}
