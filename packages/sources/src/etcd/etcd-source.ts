import {
  LockscopeError,
  displayKey,
  lookupKeys,
  parseHexName,
  toHex,
  type EndCause,
  type EtcdSourceConfig,
  type LiveLock,
  type LockObservation,
} from '@lockscope/core';
import type { IDuplexStream, IEvent, IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import type {
  LeaseCheck,
  LockSource,
  ObservationSink,
  ReleaseRequest,
  ReleaseResult,
  SourceHealth,
  WatchOptions,
} from '../source.js';
import {
  createEtcdClient,
  errorText,
  isCompactedError,
  isFutureRevisionError,
  isTooLargeError,
  toSourceError,
  type EtcdClient,
} from './etcd-client.js';
import {
  byCreateRevision,
  classifyKey,
  compileOverrides,
  groupEntries,
  groupId,
  holdOf,
  leaseHex,
  leaseKeyHoldId,
  mutexHoldId,
  normalisePrefixes,
  parseHoldId,
  prefixRangeEnd,
  toEntry,
  waitersOf,
  type EtcdEntry,
  type LeaseFacts,
  type LockGroup,
} from './etcd-dialect.js';

/** Keys per range page to start with; a page too large for the gRPC limit is retried smaller. */
const RANGE_PAGE = 5_000;
/** Parallel LeaseTimeToLive calls during list() and resyncs. */
const LEASE_LOOKUP_CONCURRENCY = 32;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 30_000;
/** stop() waits this long for an in-flight revision before closing the client anyway. */
const STOP_DEADLINE_MS = 2_000;
/** A lease gone this long before it could have lapsed was revoked, not expired. */
const EXPIRY_SLACK_MS = 1_000;
/** How long after a lease lookup its remaining TTL is still reported in observations. */
const FRESH_FACTS_MS = 1_000;
/** A remembered lease is trusted only while it has at least this long left to live. */
const LEASE_MEMO_MARGIN_MS = 1_500;
const LEASE_MEMO_LIMIT = 100_000;
/** How often an idle watch asks etcd for a progress answer, proving the stream alive (lastSeenAt). */
const HEARTBEAT_MS = 10_000;
/** A stream with no answer at all for this long is treated as dead and reopened. */
const SILENCE_LIMIT_MS = 3 * HEARTBEAT_MS;

export interface EtcdSourceOptions {
  /** Wall clock in ms (tests pin it). */
  now?: () => number;
  /** gRPC receive limit in bytes (default 64 MB). */
  maxReceiveBytes?: number;
}

interface LeaseLookup {
  gone: boolean;
  grantedMs: number | null;
  remainingMs: number | null;
  /** Wall ms the lookup answered. */
  at: number;
}

/** What is known of the current hold of a watched lock, beyond its keys. */
interface HoldMeta {
  holdId: string;
  lease: bigint;
  facts: LeaseFacts;
  /** Wall ms of the lookup behind `facts`: a remaining TTL is only reported while it is fresh. */
  factsAt: number;
  /** The lease cannot lapse before this wall ms (last lookup + remaining TTL). */
  earliestExpiryAt: number | null;
}

interface RangeRead {
  entries: EtcdEntry[];
  /** The revision the range was read at. */
  revision: bigint;
  /** The store's head revision when it answered. */
  head: bigint;
}

interface PrefixWatch {
  prefix: Buffer;
  rangeEnd: Buffer;
  /** Everything up to this revision has been delivered to the sink. */
  delivered: bigint;
}

interface Session {
  sink: ObservationSink;
  stopped: boolean;
  /** Resume point given to watch(); used only for the first sync. */
  resumeRevision: bigint | null;
  synced: boolean;
  /** State may be partly applied (a revision failed midway): the next connect re-reads. */
  needsResync: boolean;
  groups: Map<string, LockGroup>;
  keyIndex: Map<string, string>;
  holdMeta: Map<string, HoldMeta>;
  prefixes: PrefixWatch[];
  /** Events up to this revision happened before the watch connected (replayed). */
  replayUntil: bigint;
  lastProgress: bigint;
  stream: IDuplexStream<IWatchRequest, IWatchResponse> | null;
  /** Bumped on every stream (re)open and teardown; stale callbacks compare and drop out. */
  generation: number;
  pendingCreates: number[];
  watchIds: Map<string, number>;
  /** Events of a fragmented response, per watch id, until its last fragment arrives. */
  fragments: Map<string, IEvent[]>;
  onCreated: (() => void) | null;
  timer: NodeJS.Timeout | null;
  heartbeat: NodeJS.Timeout | null;
  /** Monotonic ms of the last response on the current stream. */
  lastAnswerAt: number;
  backoffMs: number;
  /** Responses are applied strictly one after another, lease lookups included. */
  queue: Promise<void>;
}

/**
 * The etcd LockSource: Go mutex/election recipe keys (`<lock>/<lease hex>`,
 * `etcdctl lock`) and single-key lease locks (npm etcd3 Lock, python-etcd3)
 * under the configured prefixes. Watches resume by revision; leases are looked
 * up only when a hold starts or ends and when the collector asks (checkLease).
 */
export function createEtcdSource(config: EtcdSourceConfig, options: EtcdSourceOptions = {}): LockSource {
  const now = options.now ?? Date.now;
  const prefixes = normalisePrefixes(config.prefixes);
  const overrides = compileOverrides(config.dialects);
  const health: SourceHealth = {
    name: config.name,
    kind: 'etcd',
    connected: false,
    lastError: null,
    lastEventAt: null,
    lastSeenAt: null,
    version: null,
  };
  let etcd: EtcdClient | null = null;
  let session: Session | null = null;

  const client = (): EtcdClient => {
    etcd ??= createEtcdClient(config, {
      ...(options.maxReceiveBytes ? { maxReceiveBytes: options.maxReceiveBytes } : {}),
      // Whether the source is connected is the watch stream's to say; a failed call only sets the error.
      onError: (error) => setHealth({ lastError: error.message }),
    });
    return etcd;
  };

  function setHealth(patch: Partial<SourceHealth>): void {
    const changed = (Object.keys(patch) as (keyof SourceHealth)[]).some((k) => health[k] !== patch[k]);
    Object.assign(health, patch);
    if (changed) session?.sink.health?.({ ...health });
  }

  const seen = (): void => {
    health.lastSeenAt = now();
    // An answer clears a past call's error, unless the watch itself is still down.
    const watchDown = session !== null && !session.stopped && !health.connected;
    if (health.lastError !== null && !watchDown) setHealth({ lastError: null });
  };

  const inPrefixes = (key: Buffer): boolean => prefixes.some((p) => key.subarray(0, p.length).equals(p));

  async function readRange(c: EtcdClient, start: Buffer, end: Buffer | null, revision: bigint | null): Promise<RangeRead> {
    const entries: EtcdEntry[] = [];
    let key = start;
    let rev = revision;
    let head = 0n;
    let limit = RANGE_PAGE;
    for (;;) {
      let res;
      try {
        res = await c.call(
          'a range read',
          (cl) => cl.kv.range({ key, ...(end ? { range_end: end, limit } : {}), revision: rev?.toString() ?? '0' }),
          (e) => isCompactedError(e) || isFutureRevisionError(e) || (limit > 1 && isTooLargeError(e)),
        );
      } catch (error) {
        // Big values (up to etcd's 1.5 MB each): fewer keys per page until a page fits.
        if (limit > 1 && isTooLargeError(error)) {
          limit = Math.max(1, Math.floor(limit / 8));
          continue;
        }
        throw error;
      }
      seen();
      head = BigInt(res.header.revision);
      // Later pages must read the same revision as the first, or a lock could be half old, half new.
      rev ??= head;
      for (const kv of res.kvs) entries.push(toEntry(kv, null));
      const last = res.kvs.at(-1);
      if (!end || !res.more || !last) break;
      key = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { entries, revision: rev ?? head, head };
  }

  /**
   * What the last lookups proved about each lease: it cannot lapse before
   * `aliveUntil` (only a revoke ends it sooner, and a key deleted by a revoke
   * counts as released anyway). Lets the watch skip a lookup per hold when many
   * holds share a session lease, which is how Go's concurrency sessions work.
   */
  const leaseMemo = new Map<bigint, { grantedMs: number | null; aliveUntil: number }>();

  function rememberLease(lease: bigint, lookup: LeaseLookup): void {
    if (lookup.gone || lookup.remainingMs === null) {
      leaseMemo.delete(lease);
      return;
    }
    if (leaseMemo.size >= LEASE_MEMO_LIMIT) leaseMemo.clear();
    leaseMemo.set(lease, { grantedMs: lookup.grantedMs, aliveUntil: lookup.at + lookup.remainingMs });
  }

  /** A lease lookup for the watch path: answered from what is proven when that is enough. */
  async function watchLeaseLookup(c: EtcdClient, lease: bigint): Promise<LeaseLookup> {
    const memo = leaseMemo.get(lease);
    const t = now();
    if (memo && memo.aliveUntil - t > LEASE_MEMO_MARGIN_MS) {
      // Whole seconds, rounded down, like etcd's own answer: a lower bound.
      return { gone: false, grantedMs: memo.grantedMs, remainingMs: Math.floor((memo.aliveUntil - t) / 1000) * 1000, at: t };
    }
    return lookupLease(c, lease);
  }

  async function lookupLease(c: EtcdClient, lease: bigint, keys = false): Promise<LeaseLookup & { keys: Buffer[] }> {
    const result = await lookupLeaseUncached(c, lease, keys);
    rememberLease(lease, result);
    return result;
  }

  async function lookupLeaseUncached(c: EtcdClient, lease: bigint, keys: boolean): Promise<LeaseLookup & { keys: Buffer[] }> {
    try {
      const res = await c.call(
        'a lease lookup',
        (cl) => cl.leaseClient.leaseTimeToLive({ ID: lease.toString(), keys }),
        (e) => /lease not found/i.test(errorText(e)),
      );
      seen();
      const ttl = Number(res.TTL);
      const granted = Number(res.grantedTTL);
      return {
        gone: ttl < 0,
        grantedMs: granted > 0 ? granted * 1000 : null,
        remainingMs: ttl < 0 ? 0 : ttl * 1000,
        at: now(),
        keys: res.keys ?? [],
      };
    } catch (error) {
      if (/lease not found/i.test(errorText(error))) return { gone: true, grantedMs: null, remainingMs: 0, at: now(), keys: [] };
      throw error;
    }
  }

  async function leaseFactsFor(c: EtcdClient, owners: EtcdEntry[]): Promise<Map<bigint, LeaseLookup>> {
    const leases = [...new Set(owners.map((o) => o.lease).filter((l) => l !== 0n))];
    const out = new Map<bigint, LeaseLookup>();
    await mapLimit(leases, LEASE_LOOKUP_CONCURRENCY, async (lease) => {
      out.set(lease, await lookupLease(c, lease));
    });
    return out;
  }

  const factsOf = (lookup: LeaseLookup | undefined): LeaseFacts | undefined =>
    lookup ? { ttlMs: lookup.grantedMs, remainingMs: lookup.gone ? 0 : lookup.remainingMs } : undefined;

  function toLiveLock(group: LockGroup, lookup: LeaseLookup | undefined, at: number): LiveLock {
    return {
      source: config.name,
      key: new Uint8Array(group.lockKey),
      name: displayKey(group.lockKey),
      dialect: group.dialect,
      hold: holdOf(group, factsOf(lookup)),
      waiters: waitersOf(group),
      at,
    };
  }

  async function snapshot(c: EtcdClient): Promise<LockGroup[]> {
    const entries: EtcdEntry[] = [];
    for (const prefix of prefixes) entries.push(...(await readRange(c, prefix, prefixRangeEnd(prefix), null)).entries);
    return [...groupEntries(entries, overrides).values()];
  }

  async function liveLocks(c: EtcdClient, groups: LockGroup[]): Promise<LiveLock[]> {
    const owners = groups.map((g) => g.entries[0]).filter((e): e is EtcdEntry => e !== undefined);
    const leases = await leaseFactsFor(c, owners);
    const at = now();
    return groups
      .map((g) => toLiveLock(g, g.entries[0] ? leases.get(g.entries[0].lease) : undefined, at))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * The lock shown as `name`, or given by its exact `hex:` form: direct reads of each key it
   * may be (and of their children), a full scan only for names with more escapes than
   * lookupKeys combines.
   */
  async function findGroup(c: EtcdClient, name: string): Promise<LockGroup | null> {
    const keys = lookupKeys(name).map((k) => Buffer.from(k));
    const wanted = new Set(keys.map((k) => k.toString('hex')));
    const reads = await Promise.all(
      keys.flatMap((bytes) => {
        const children = Buffer.concat([bytes, Buffer.from('/')]);
        return [readRange(c, bytes, null, null), readRange(c, children, prefixRangeEnd(children), null)];
      }),
    );
    const direct = reads.flatMap((r) => r.entries).filter((e) => inPrefixes(e.key));
    const found = [...groupEntries(direct, overrides).values()].find((g) => wanted.has(g.lockKey.toString('hex')) && g.entries.length > 0);
    if (found) return found;
    if (parseHexName(name) !== null || !name.includes('\\x')) return null;
    return [...(await snapshot(c))].find((g) => displayKey(g.lockKey) === name && g.entries.length > 0) ?? null;
  }

  // ---- watching -------------------------------------------------------------------------

  const groupIdOf = (entry: EtcdEntry): { id: string; group: LockGroup } => {
    const { dialect, lockKey } = classifyKey(entry.key, entry.lease, overrides);
    const id = groupId(dialect, lockKey);
    return { id, group: { lockKey, id, dialect, entries: [] } };
  };

  const holdIdOf = (group: LockGroup, entry: EtcdEntry): string =>
    group.dialect === 'etcd-mutex' ? mutexHoldId(entry) : leaseKeyHoldId(entry);

  function addEntry(s: Session, entry: EtcdEntry): string {
    const { id, group: fresh } = groupIdOf(entry);
    let group = s.groups.get(id);
    if (!group) s.groups.set(id, (group = fresh));
    const last = group.entries.at(-1);
    group.entries.push(entry);
    // New contenders almost always come last; sort only when one does not.
    if (last && byCreateRevision(last, entry) > 0) group.entries.sort(byCreateRevision);
    s.keyIndex.set(entry.keyHex, id);
    return id;
  }

  function removeEntry(s: Session, keyHex: string): { id: string; entry: EtcdEntry } | null {
    const id = s.keyIndex.get(keyHex);
    const group = id === undefined ? undefined : s.groups.get(id);
    if (id === undefined || !group) return null;
    s.keyIndex.delete(keyHex);
    const index = group.entries.findIndex((e) => e.keyHex === keyHex);
    if (index < 0) return null;
    const [entry] = group.entries.splice(index, 1);
    return { id, entry: entry! };
  }

  function resetState(s: Session, entries: EtcdEntry[]): void {
    s.groups = new Map();
    s.keyIndex = new Map();
    for (const entry of entries) addEntry(s, entry);
  }

  function observation(s: Session, id: string, group: LockGroup, seq: bigint, at: number, extra: Partial<LockObservation>): LockObservation {
    const meta = s.holdMeta.get(id);
    const owner = group.entries[0];
    const current = owner && meta && meta.holdId === holdIdOf(group, owner) ? meta : undefined;
    // Renewals are invisible, so an old remaining TTL says nothing about now.
    const facts = current && { ttlMs: current.facts.ttlMs, remainingMs: at - current.factsAt <= FRESH_FACTS_MS ? current.facts.remainingMs : null };
    return {
      source: config.name,
      key: new Uint8Array(group.lockKey),
      dialect: group.dialect,
      at,
      seq,
      hold: holdOf(group, facts),
      waiters: waitersOf(group),
      revision: seq.toString(),
      ...extra,
    };
  }

  function rememberHold(s: Session, id: string, group: LockGroup, lookup: LeaseLookup | undefined): void {
    const owner = group.entries[0];
    if (!owner) {
      s.holdMeta.delete(id);
      return;
    }
    s.holdMeta.set(id, {
      holdId: holdIdOf(group, owner),
      lease: owner.lease,
      facts: { ttlMs: lookup?.grantedMs ?? null, remainingMs: lookup ? (lookup.gone ? 0 : lookup.remainingMs) : null },
      factsAt: lookup?.at ?? now(),
      earliestExpiryAt: lookup && !lookup.gone && lookup.remainingMs !== null ? lookup.at + lookup.remainingMs : null,
    });
  }

  function reportProgress(s: Session): void {
    const revision = s.prefixes.reduce((min, p) => (p.delivered < min ? p.delivered : min), s.prefixes[0]!.delivered);
    if (revision > s.lastProgress) {
      s.lastProgress = revision;
      s.sink.progress?.(config.name, revision.toString());
    }
  }

  /** Reads every prefix now and delivers the whole state (connect without resume, compaction, a failed apply). */
  async function resyncAll(s: Session): Promise<void> {
    const c = client();
    const reads: RangeRead[] = [];
    for (const p of s.prefixes) reads.push(await readRange(c, p.prefix, p.rangeEnd, null));
    if (s.stopped) return;
    resetState(s, reads.flatMap((r) => r.entries));
    const owners = [...s.groups.values()].map((g) => g.entries[0]).filter((e): e is EtcdEntry => e !== undefined);
    const known = new Set([...s.holdMeta.values()].map((m) => m.holdId));
    const unknownOwners = owners.filter((o) => !known.has(`${o.keyHex}@${o.createRevision}`) && !known.has(`@${o.createRevision}`));
    const leases = await leaseFactsFor(c, unknownOwners);
    if (s.stopped) return;
    const at = now();
    const revision = reads.reduce((max, r) => (r.revision > max ? r.revision : max), 0n);
    const previous = s.holdMeta;
    s.holdMeta = new Map();
    for (const [id, group] of s.groups) {
      const owner = group.entries[0]!;
      const kept = previous.get(id);
      if (kept && kept.holdId === holdIdOf(group, owner)) s.holdMeta.set(id, kept);
      else rememberHold(s, id, group, leases.get(owner.lease));
      s.sink.observe(observation(s, id, group, revision, at, { replayed: true }));
    }
    s.sink.resynced?.(config.name, new Set([...s.groups.values()].map((g) => toHex(g.lockKey))), at);
    s.prefixes.forEach((p, i) => (p.delivered = reads[i]!.revision));
    s.replayUntil = 0n;
    s.needsResync = false;
    reportProgress(s);
  }

  /** Resume: the state as it was at `revision`, nothing delivered (the sink has it); replay follows. */
  async function loadAt(s: Session, revision: bigint): Promise<boolean> {
    const c = client();
    const reads: RangeRead[] = [];
    try {
      for (const p of s.prefixes) reads.push(await readRange(c, p.prefix, p.rangeEnd, revision));
    } catch (error) {
      if (isCompactedError(error) || isFutureRevisionError(error)) return false;
      throw error;
    }
    resetState(s, reads.flatMap((r) => r.entries));
    s.holdMeta = new Map();
    for (const p of s.prefixes) p.delivered = revision;
    s.replayUntil = reads.reduce((max, r) => (r.head > max ? r.head : max), 0n);
    s.lastProgress = revision;
    return true;
  }

  async function initialSync(s: Session): Promise<void> {
    if (s.synced && !s.needsResync) return;
    if (!s.synced && s.resumeRevision !== null && (await loadAt(s, s.resumeRevision))) {
      s.synced = true;
      return;
    }
    await resyncAll(s);
    s.synced = true;
  }

  async function endCauseOf(c: EtcdClient, owner: EtcdEntry, meta: HoldMeta | undefined, replayed: boolean, at: number, cache: Map<bigint, LeaseLookup>): Promise<EndCause> {
    if (owner.lease === 0n) return 'released';
    let lookup = cache.get(owner.lease);
    if (!lookup) cache.set(owner.lease, (lookup = await watchLeaseLookup(c, owner.lease)));
    if (!lookup.gone) return 'released';
    // The lease is gone: lapsed, or revoked (npm etcd3 Lock.release revokes). Long after the fact nobody can tell.
    if (replayed) return 'unknown';
    if (meta?.earliestExpiryAt != null && at < meta.earliestExpiryAt - EXPIRY_SLACK_MS) return 'released';
    return 'expired';
  }

  async function applyRevision(s: Session, prefixIndex: number, revision: bigint, events: IEvent[], gen: number): Promise<void> {
    const c = client();
    const at = now();
    health.lastEventAt = at;
    const replayed = revision <= s.replayUntil;
    const before = new Map<string, { owner: EtcdEntry | null; meta: HoldMeta | undefined }>();
    const deletedOwner = new Map<string, EtcdEntry>();
    const remember = (id: string) => {
      if (!before.has(id)) before.set(id, { owner: s.groups.get(id)?.entries[0] ?? null, meta: s.holdMeta.get(id) });
    };
    s.needsResync = true;
    for (const event of events) {
      const kv: IKeyValue = event.kv;
      const keyHex = kv.key.toString('hex');
      const oldId = s.keyIndex.get(keyHex);
      if (oldId !== undefined) remember(oldId);
      const removed = removeEntry(s, keyHex);
      if (event.type === 'Put') {
        const entry = toEntry(kv, at);
        if (removed && removed.entry.createRevision === entry.createRevision) entry.firstSeenAt = removed.entry.firstSeenAt;
        remember(groupIdOf(entry).id);
        addEntry(s, entry);
      } else if (removed) {
        const prior = before.get(removed.id)?.owner;
        if (prior && prior.keyHex === removed.entry.keyHex && prior.createRevision === removed.entry.createRevision) {
          deletedOwner.set(removed.id, removed.entry);
        }
      }
    }
    const leaseCache = new Map<bigint, LeaseLookup>();
    const out: LockObservation[] = [];
    for (const [id, { owner: prevOwner, meta: prevMeta }] of before) {
      const group = s.groups.get(id) ?? groupFromId(id);
      const owner = group.entries[0] ?? null;
      const prevHoldId = prevOwner ? holdIdOf(group, prevOwner) : null;
      const holdId = owner ? holdIdOf(group, owner) : null;
      let endCause: EndCause | undefined;
      if (prevOwner && prevHoldId !== holdId) {
        const deleted = deletedOwner.get(id);
        endCause = deleted ? await endCauseOf(c, deleted, prevMeta, replayed, at, leaseCache) : 'unknown';
      }
      if (owner && (prevMeta?.holdId !== holdId || prevMeta.lease !== owner.lease)) {
        let lookup: LeaseLookup | undefined;
        if (owner.lease !== 0n) {
          lookup = leaseCache.get(owner.lease);
          if (!lookup) leaseCache.set(owner.lease, (lookup = await watchLeaseLookup(c, owner.lease)));
        }
        rememberHold(s, id, group, lookup);
      } else if (!owner) {
        s.holdMeta.delete(id);
      }
      if (gen !== s.generation || s.stopped) return;
      out.push(observation(s, id, group, revision, at, { ...(endCause ? { endCause } : {}), ...(replayed ? { replayed: true } : {}) }));
      if (group.entries.length === 0) s.groups.delete(id);
    }
    for (const o of out) s.sink.observe(o);
    s.needsResync = false;
    const p = s.prefixes[prefixIndex]!;
    if (revision > p.delivered) p.delivered = revision;
    reportProgress(s);
  }

  function groupFromId(id: string): LockGroup {
    return { lockKey: Buffer.from(id.slice(2), 'hex'), id, dialect: id.startsWith('m:') ? 'etcd-mutex' : 'etcd-lease-key', entries: [] };
  }

  async function handleResponse(s: Session, gen: number, res: IWatchResponse): Promise<void> {
    if (gen !== s.generation || s.stopped) return;
    seen();
    s.lastAnswerAt = performance.now();
    // The answer to our progress_request (etcd sends it with watch id -1). On etcd 3.4 its revision
    // may run ahead of events still queued for a watcher, so it proves liveness, not delivery.
    if (res.watch_id === '-1' && !res.created && res.events.length === 0) return;
    if (res.created) {
      // What happened before this watch existed (while disconnected, or before a resume) is a replay.
      const head = BigInt(res.header.revision);
      if (head > s.replayUntil) s.replayUntil = head;
      const index = s.pendingCreates.shift();
      if (index !== undefined && !res.canceled) s.watchIds.set(res.watch_id, index);
      if (s.pendingCreates.length === 0 && !res.canceled) {
        s.backoffMs = RECONNECT_MIN_MS;
        setHealth({ connected: true, lastError: null });
        s.onCreated?.();
        if (health.version == null) {
          client()
            .call('a status probe', (cl) => cl.maintenance.status())
            .then((status) => setHealth({ version: status.version }))
            .catch(() => undefined);
        }
      }
    }
    if (res.canceled) {
      if (BigInt(res.compact_revision || '0') > 0n) {
        // The revisions we needed are gone: re-read everything, tell the sink, watch on from the read.
        closeStream(s);
        s.needsResync = true;
        try {
          await initialSync(s);
          if (!s.stopped) await openStream(s);
        } catch (error) {
          if (s.stopped) return;
          setHealth({ connected: false, lastError: toSourceError(config, 'resyncing after compaction', error).message });
          scheduleReconnect(s);
        }
        return;
      }
      throw new Error(`etcd cancelled the watch${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`);
    }
    if (res.created) return;
    const index = s.watchIds.get(res.watch_id);
    if (index === undefined) return;
    if (res.fragment) {
      // A revision too big for one message (many 1 MB prev_kvs): apply it only once whole.
      s.fragments.set(res.watch_id, [...(s.fragments.get(res.watch_id) ?? []), ...res.events]);
      return;
    }
    const held = s.fragments.get(res.watch_id);
    if (held) {
      s.fragments.delete(res.watch_id);
      res = { ...res, events: [...held, ...res.events] };
    }
    if (res.events.length === 0) {
      // Progress notification: nothing newer than header.revision for this watch.
      const p = s.prefixes[index]!;
      const revision = BigInt(res.header.revision);
      if (revision > p.delivered) p.delivered = revision;
      reportProgress(s);
      return;
    }
    let batch: IEvent[] = [];
    let batchRevision = -1n;
    for (const event of res.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision !== batchRevision && batch.length > 0) {
        await applyRevision(s, index, batchRevision, batch, gen);
        if (gen !== s.generation || s.stopped) return;
        batch = [];
      }
      batchRevision = revision;
      batch.push(event);
    }
    if (batch.length > 0) await applyRevision(s, index, batchRevision, batch, gen);
  }

  function closeStream(s: Session): void {
    s.generation += 1;
    if (s.heartbeat) clearInterval(s.heartbeat);
    s.heartbeat = null;
    const stream = s.stream;
    s.stream = null;
    s.pendingCreates = [];
    s.watchIds = new Map();
    s.fragments = new Map();
    if (stream) {
      try {
        stream.cancel();
      } catch {
        // Already torn down by gRPC: nothing left to cancel.
      }
    }
  }

  function failStream(s: Session, gen: number, error: unknown): void {
    if (gen !== s.generation || s.stopped) return;
    closeStream(s);
    const mapped = toSourceError(config, 'watching', error);
    setHealth({ connected: false, lastError: mapped.message });
    s.onCreated?.();
    scheduleReconnect(s);
  }

  function scheduleReconnect(s: Session): void {
    if (s.stopped || s.timer) return;
    const delay = Math.round(s.backoffMs * (0.75 + Math.random() * 0.5));
    s.backoffMs = Math.min(s.backoffMs * 2, RECONNECT_MAX_MS);
    s.timer = setTimeout(() => {
      s.timer = null;
      const gen = s.generation;
      s.queue = s.queue
        .then(async () => {
          if (s.stopped) return;
          await initialSync(s);
          if (!s.stopped && gen === s.generation) await openStream(s);
        })
        .catch((error: unknown) => {
          if (s.stopped) return;
          setHealth({ connected: false, lastError: toSourceError(config, 'reconnecting', error).message });
          scheduleReconnect(s);
        });
    }, delay);
  }

  async function openStream(s: Session): Promise<void> {
    closeStream(s);
    const gen = s.generation;
    const stream = await client().call('opening a watch', (cl) => cl.watchClient.watch());
    if (s.stopped || gen !== s.generation) {
      stream.cancel();
      return;
    }
    s.stream = stream;
    stream.on('data', (res) => {
      if (gen !== s.generation) return;
      s.queue = s.queue.then(() => handleResponse(s, gen, res)).catch((error: unknown) => failStream(s, gen, error));
    });
    stream.on('error', (error) => failStream(s, gen, error));
    stream.on('end', () => failStream(s, gen, new Error('the watch stream ended')));
    s.lastAnswerAt = performance.now();
    s.heartbeat = setInterval(() => {
      if (gen !== s.generation || s.stopped) return;
      if (performance.now() - s.lastAnswerAt > SILENCE_LIMIT_MS) {
        failStream(s, gen, new Error(`etcd did not answer on the watch stream for ${SILENCE_LIMIT_MS / 1000} s`));
        return;
      }
      try {
        stream.write({ progress_request: {} });
      } catch (error) {
        failStream(s, gen, error);
      }
    }, HEARTBEAT_MS);
    s.heartbeat.unref();
    s.pendingCreates = s.prefixes.map((_, i) => i);
    for (const p of s.prefixes) {
      stream.write({
        create_request: {
          key: p.prefix,
          range_end: p.rangeEnd,
          start_revision: (p.delivered + 1n).toString(),
          prev_kv: true,
          progress_notify: true,
          fragment: true,
        },
      });
    }
  }

  return {
    name: config.name,
    kind: 'etcd',

    async watch({ sink, resumeRevision }: WatchOptions): Promise<void> {
      if (session && !session.stopped) throw new LockscopeError('BAD_REQUEST', `etcd source "${config.name}" is already watching`);
      if (resumeRevision != null && !/^\d+$/.test(resumeRevision)) {
        throw new LockscopeError('BAD_REQUEST', `resume revision "${resumeRevision}" is not an etcd revision (digits only)`);
      }
      const s: Session = {
        sink,
        stopped: false,
        resumeRevision: resumeRevision != null ? BigInt(resumeRevision) : null,
        synced: false,
        needsResync: false,
        groups: new Map(),
        keyIndex: new Map(),
        holdMeta: new Map(),
        prefixes: prefixes.map((prefix) => ({ prefix, rangeEnd: prefixRangeEnd(prefix), delivered: 0n })),
        replayUntil: 0n,
        lastProgress: 0n,
        stream: null,
        generation: 0,
        pendingCreates: [],
        watchIds: new Map(),
        fragments: new Map(),
        onCreated: null,
        timer: null,
        heartbeat: null,
        lastAnswerAt: 0,
        backoffMs: RECONNECT_MIN_MS,
        queue: Promise.resolve(),
      };
      session = s;
      const created = new Promise<void>((resolve) => (s.onCreated = resolve));
      const first = s.queue.then(async () => {
        await initialSync(s);
        await openStream(s);
      });
      s.queue = first.catch(() => undefined);
      try {
        await first;
      } catch (error) {
        const mapped = toSourceError(config, 'the first sync', error);
        setHealth({ connected: false, lastError: mapped.message });
        // Keep trying in the background; health() says when it is back.
        scheduleReconnect(s);
        throw mapped;
      }
      // A stream that neither answers nor fails must not hang start-up; health shows the state.
      await withDeadline(created, 10_000);
      s.onCreated = null;
    },

    async list(): Promise<LiveLock[]> {
      const c = client();
      return liveLocks(c, await snapshot(c));
    },

    async get(name: string): Promise<LiveLock | null> {
      const c = client();
      const group = await findGroup(c, name);
      if (!group) return null;
      const [lock] = await liveLocks(c, [group]);
      return lock ?? null;
    },

    async release(request: ReleaseRequest): Promise<ReleaseResult> {
      const c = client();
      const group = await findGroup(c, request.name);
      if (!group) {
        if ((request.expectHoldId || request.expectToken) && (await heldBefore(c, request))) {
          throw new LockscopeError('LOCK_FREE', `${request.name} on ${config.name} is free now: the hold you saw has ended, nothing to release.`, {
            details: { source: config.name, name: request.name },
          });
        }
        throw new LockscopeError('LOCK_NOT_FOUND', `No lock named ${request.name} under ${config.prefixes.join(', ')} on etcd source "${config.name}". Run \`lockctl ls\` to see the names.`, {
          details: { source: config.name, name: request.name },
        });
      }
      const [lock] = await liveLocks(c, [group]);
      const owner = group.entries[0]!;
      const hold = lock!.hold!;
      const mismatch =
        (request.expectHoldId != null && request.expectHoldId !== hold.holdId) ||
        (request.expectToken != null && request.expectToken !== hold.token) ||
        (request.expectHolder != null && request.expectHolder !== hold.holder);
      if (mismatch) {
        throw new LockscopeError(
          'HOLDER_CHANGED',
          `${request.name} changed holder since you looked: now held by ${hold.holder} (token ${hold.token}). Nothing was deleted; look again and retry if you still mean it.`,
          { details: { source: config.name, name: request.name, holdId: hold.holdId, token: hold.token, holder: hold.holder } },
        );
      }
      const ownerName = displayKey(owner.key);
      const actions = [`delete ${JSON.stringify(ownerName)} only if its create_revision is still ${owner.createRevision} (holder ${hold.holder})`];
      let leaseKeys: string[] | undefined;
      if (request.revokeLease && owner.lease !== 0n) {
        const lookup = await lookupLease(c, owner.lease, true);
        leaseKeys = lookup.keys.map((k) => displayKey(k));
        actions.push(`revoke lease ${leaseHex(owner.lease)}, which deletes ${leaseKeys.length} key(s): ${leaseKeys.map((k) => JSON.stringify(k)).join(', ')}`);
      } else if (request.revokeLease) {
        leaseKeys = [];
        actions.push('no lease to revoke: the key has none');
      }
      if (lock!.waiters && lock!.waiters.length > 0) actions.push(`the next waiter (${lock!.waiters[0]!.holder}) then acquires on its own`);
      actions.push(`the old holder (${hold.holder}) is not told: it may still believe it holds the lock`);
      if (request.dryRun) return { released: false, lock: lock!, actions, ...(leaseKeys ? { leaseKeys } : {}) };

      const res = await c.call('the guarded delete', (cl) =>
        cl.kv.txn({
          compare: [{ key: owner.key, target: 'Create', result: 'Equal', create_revision: owner.createRevision.toString() }],
          success: [{ request_delete_range: { key: owner.key } }],
          failure: [{ request_range: { key: owner.key } }],
        }),
      );
      if (!res.succeeded) {
        const current = res.responses[0]?.response_range?.kvs[0];
        throw new LockscopeError(
          'HOLDER_CHANGED',
          `${request.name} changed between the read and the delete (${current ? `key now has create_revision ${current.create_revision}` : 'the owner key is gone'}). Nothing was deleted.`,
          { details: { source: config.name, name: request.name } },
        );
      }
      if (request.revokeLease && owner.lease !== 0n) {
        await c.call(
          'revoking the lease',
          (cl) => cl.leaseClient.leaseRevoke({ ID: owner.lease.toString() }),
          (e) => /lease not found/i.test(errorText(e)),
        ).catch((error: unknown) => {
          if (!/lease not found/i.test(errorText(error))) throw error;
        });
      }
      return { released: true, lock: lock!, actions, ...(leaseKeys ? { leaseKeys } : {}) };
    },

    async checkLease(key: Uint8Array, holdId: string): Promise<LeaseCheck> {
      const parsed = parseHoldId(holdId);
      if (!parsed) throw new LockscopeError('BAD_REQUEST', `"${holdId}" is not an etcd hold id (<owner key hex>@<create_revision>)`);
      const c = client();
      const ownerKey = parsed.ownerKey ?? Buffer.from(key);
      const { entries } = await readRange(c, ownerKey, null, null);
      const owner = entries[0];
      if (!owner || owner.createRevision !== parsed.createRevision) return { exists: false, remainingMs: null, ttlMs: null };
      if (owner.lease === 0n) return { exists: true, remainingMs: null, ttlMs: null };
      const lookup = await lookupLease(c, owner.lease);
      const s = session;
      if (s && !s.stopped) {
        for (const meta of s.holdMeta.values()) {
          if (meta.holdId === holdId && !lookup.gone && lookup.remainingMs !== null) {
            meta.earliestExpiryAt = lookup.at + lookup.remainingMs;
            meta.facts = { ttlMs: lookup.grantedMs, remainingMs: lookup.remainingMs };
            meta.factsAt = lookup.at;
          }
        }
      }
      return { exists: !lookup.gone, remainingMs: lookup.remainingMs, ttlMs: lookup.grantedMs };
    },

    async probe(): Promise<SourceHealth> {
      try {
        const status = await client().call('a status probe', (cl) => cl.maintenance.status());
        seen();
        setHealth({ version: status.version, ...(session && !session.stopped ? {} : { lastError: null }) });
        return { ...health, connected: session && !session.stopped ? health.connected : true };
      } catch (error) {
        return { ...health, connected: false, lastError: toSourceError(config, 'a status probe', error).message };
      }
    },

    health(): SourceHealth {
      return { ...health };
    },

    async stop(): Promise<void> {
      const s = session;
      if (s) {
        s.stopped = true;
        if (s.timer) clearTimeout(s.timer);
        s.timer = null;
        closeStream(s);
        s.onCreated?.();
        await withDeadline(s.queue, STOP_DEADLINE_MS);
      }
      etcd?.close();
      etcd = null;
      health.connected = false;
    },
  };

  /** Whether the hold the caller saw really existed (so the lock is free now, not unknown). */
  async function heldBefore(c: EtcdClient, request: ReleaseRequest): Promise<boolean> {
    const parsed = request.expectHoldId ? parseHoldId(request.expectHoldId) : null;
    const token = parsed?.createRevision ?? (request.expectToken && /^\d+$/.test(request.expectToken) ? BigInt(request.expectToken) : null);
    if (token === null) return false;
    const name = Buffer.from(request.name, 'utf8');
    const candidates = parsed?.ownerKey ? [parsed.ownerKey] : [name];
    try {
      for (const key of candidates) {
        const { entries } = await readRange(c, key, null, token);
        if (entries.some((e) => e.createRevision === token)) return true;
      }
      const children = Buffer.concat([name, Buffer.from('/')]);
      const { entries } = await readRange(c, children, prefixRangeEnd(children), token);
      return entries.some((e) => e.createRevision === token);
    } catch (error) {
      // Compacted history: the caller saw the hold, believe them.
      if (isCompactedError(error)) return true;
      throw error;
    }
  }
}

/** Waits for `promise` at most `ms`, leaving no timer behind either way. */
async function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise.then(() => undefined, () => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
