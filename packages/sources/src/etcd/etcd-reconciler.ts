import { toHex, type EndCause, type LockObservation } from '@lockscope/core';
import {
  byCreateRevision,
  classifyKey,
  groupId,
  holdOf,
  leaseKeyHoldId,
  mutexHoldId,
  toEntry,
  waitersOf,
  type DialectOverride,
  type EtcdEntry,
  type LeaseFacts,
  type LockGroup,
  type RawKv,
} from './etcd-dialect.js';

/** A lease gone this long before it could have lapsed was revoked, not expired. */
const EXPIRY_SLACK_MS = 1_000;
/** How long after a lease lookup its remaining TTL is still reported in observations. */
const FRESH_FACTS_MS = 1_000;

/** What a LeaseTimeToLive told the source. */
export interface LeaseLookup {
  gone: boolean;
  grantedMs: number | null;
  remainingMs: number | null;
  /** Wall ms the lookup answered. */
  at: number;
}

/** One event of a watch response, as the reconciler needs it. */
export interface KeyEvent {
  type: 'Put' | 'Delete';
  kv: RawKv;
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

/** A revision applied to the keys, waiting for the lease lookups its observations need. */
export interface StagedRevision {
  revision: bigint;
  at: number;
  replayed: boolean;
  /** Leases to look up (ended holds' causes, new holds' TTLs); the adapter answers them in `finish`. */
  leases: bigint[];
  changes: Array<{ id: string; prevOwner: EtcdEntry | null; prevMeta: HoldMeta | undefined; deleted: EtcdEntry | undefined }>;
}

export interface EtcdReconcilerOptions {
  source: string;
  overrides: DialectOverride[];
}

/**
 * Turns etcd range reads and watch events into LockObservations, with no I/O
 * and no clock of its own. Lease lookups are the one thing it cannot do
 * itself: a revision is applied in two steps, `stage` (the keys change; the
 * leases to look up are listed) and `finish` (with the lookups; the
 * observations come out), so the adapter does the lookups in between.
 */
export class EtcdReconciler {
  private readonly source: string;
  private readonly overrides: DialectOverride[];
  private groups = new Map<string, LockGroup>();
  private keyIndex = new Map<string, string>();
  private holdMeta = new Map<string, HoldMeta>();

  constructor(options: EtcdReconcilerOptions) {
    this.source = options.source;
    this.overrides = options.overrides;
  }

  /** The state as read by a range read (resume: nothing is delivered, the sink has it). */
  load(entries: EtcdEntry[]): void {
    this.groups = new Map();
    this.keyIndex = new Map();
    this.holdMeta = new Map();
    for (const entry of entries) this.addEntry(entry);
  }

  /** The owners a full resync of `entries` needs a lease lookup for (holds not already known). */
  unknownOwners(entries: EtcdEntry[]): EtcdEntry[] {
    const known = new Set([...this.holdMeta.values()].map((m) => m.holdId));
    const groups = this.group(entries);
    return [...groups.values()]
      .map((g) => g.entries[0])
      .filter((o): o is EtcdEntry => o !== undefined && !known.has(`${o.keyHex}@${o.createRevision}`) && !known.has(`@${o.createRevision}`));
  }

  /**
   * A full resync: `entries` is everything under the prefixes at `revision`.
   * Every lock is observed again (`replayed`); returns also the keys (hex) of
   * the locks that exist, for the sink to end the others.
   */
  resync(entries: EtcdEntry[], leases: Map<bigint, LeaseLookup>, revision: bigint, at: number): { observations: LockObservation[]; live: Set<string> } {
    this.groups = new Map();
    this.keyIndex = new Map();
    for (const entry of entries) this.addEntry(entry);
    const previous = this.holdMeta;
    this.holdMeta = new Map();
    const observations: LockObservation[] = [];
    for (const [id, group] of this.groups) {
      const owner = group.entries[0]!;
      const kept = previous.get(id);
      if (kept && kept.holdId === holdIdOf(group, owner)) this.holdMeta.set(id, kept);
      else this.rememberHold(id, group, leases.get(owner.lease), at);
      observations.push(this.observation(id, group, revision, at, { replayed: true }));
    }
    return { observations, live: new Set([...this.groups.values()].map((g) => toHex(g.lockKey))) };
  }

  /** Applies the events of one revision to the keys. Until `finish`, the state is partly applied. */
  stage(events: KeyEvent[], revision: bigint, at: number, replayed: boolean): StagedRevision {
    const before = new Map<string, { owner: EtcdEntry | null; meta: HoldMeta | undefined }>();
    const deletedOwner = new Map<string, EtcdEntry>();
    const remember = (id: string) => {
      if (!before.has(id)) before.set(id, { owner: this.groups.get(id)?.entries[0] ?? null, meta: this.holdMeta.get(id) });
    };
    for (const event of events) {
      const keyHex = event.kv.key.toString('hex');
      const oldId = this.keyIndex.get(keyHex);
      if (oldId !== undefined) remember(oldId);
      const removed = this.removeEntry(keyHex);
      if (event.type === 'Put') {
        const entry = toEntry(event.kv, at);
        if (removed && removed.entry.createRevision === entry.createRevision) entry.firstSeenAt = removed.entry.firstSeenAt;
        remember(this.classify(entry).id);
        this.addEntry(entry);
      } else if (removed) {
        const prior = before.get(removed.id)?.owner;
        if (prior && prior.keyHex === removed.entry.keyHex && prior.createRevision === removed.entry.createRevision) {
          deletedOwner.set(removed.id, removed.entry);
        }
      }
    }
    const leases = new Set<bigint>();
    const changes: StagedRevision['changes'] = [];
    for (const [id, { owner: prevOwner, meta: prevMeta }] of before) {
      const group = this.groups.get(id) ?? groupFromId(id);
      const owner = group.entries[0] ?? null;
      const holdId = owner ? holdIdOf(group, owner) : null;
      const deleted = deletedOwner.get(id);
      if (prevOwner && holdIdOf(group, prevOwner) !== holdId && deleted && deleted.lease !== 0n) leases.add(deleted.lease);
      if (owner && owner.lease !== 0n && (prevMeta?.holdId !== holdId || prevMeta.lease !== owner.lease)) leases.add(owner.lease);
      changes.push({ id, prevOwner, prevMeta, deleted });
    }
    return { revision, at, replayed, leases: [...leases], changes };
  }

  /** The observations of a staged revision, given the lookups of its `leases`. */
  finish(staged: StagedRevision, lookups: Map<bigint, LeaseLookup>): LockObservation[] {
    const { revision, at, replayed } = staged;
    const out: LockObservation[] = [];
    for (const { id, prevOwner, prevMeta, deleted } of staged.changes) {
      const group = this.groups.get(id) ?? groupFromId(id);
      const owner = group.entries[0] ?? null;
      const prevHoldId = prevOwner ? holdIdOf(group, prevOwner) : null;
      const holdId = owner ? holdIdOf(group, owner) : null;
      let endCause: EndCause | undefined;
      if (prevOwner && prevHoldId !== holdId) {
        endCause = deleted ? endCauseOf(deleted, prevMeta, replayed, at, lookups.get(deleted.lease)) : 'unknown';
      }
      if (owner && (prevMeta?.holdId !== holdId || prevMeta.lease !== owner.lease)) {
        this.rememberHold(id, group, owner.lease === 0n ? undefined : lookups.get(owner.lease), at);
      } else if (!owner) {
        this.holdMeta.delete(id);
      }
      out.push(this.observation(id, group, revision, at, { ...(endCause ? { endCause } : {}), ...(replayed ? { replayed: true } : {}) }));
      if (group.entries.length === 0) this.groups.delete(id);
    }
    return out;
  }

  /** A live lease check of the hold `holdId` (checkLease): what it proves is remembered. */
  noteLeaseCheck(holdId: string, lookup: LeaseLookup): void {
    if (lookup.gone || lookup.remainingMs === null) return;
    for (const meta of this.holdMeta.values()) {
      if (meta.holdId !== holdId) continue;
      meta.earliestExpiryAt = lookup.at + lookup.remainingMs;
      meta.facts = { ttlMs: lookup.grantedMs, remainingMs: lookup.remainingMs };
      meta.factsAt = lookup.at;
    }
  }

  private group(entries: EtcdEntry[]): Map<string, LockGroup> {
    const groups = new Map<string, LockGroup>();
    for (const entry of entries) {
      const { id, group: fresh } = this.classify(entry);
      let group = groups.get(id);
      if (!group) groups.set(id, (group = fresh));
      group.entries.push(entry);
    }
    for (const group of groups.values()) group.entries.sort(byCreateRevision);
    return groups;
  }

  private classify(entry: EtcdEntry): { id: string; group: LockGroup } {
    const { dialect, lockKey } = classifyKey(entry.key, entry.lease, this.overrides);
    const id = groupId(dialect, lockKey);
    return { id, group: { lockKey, id, dialect, entries: [] } };
  }

  private addEntry(entry: EtcdEntry): void {
    const { id, group: fresh } = this.classify(entry);
    let group = this.groups.get(id);
    if (!group) this.groups.set(id, (group = fresh));
    const last = group.entries.at(-1);
    group.entries.push(entry);
    // New contenders almost always come last; sort only when one does not.
    if (last && byCreateRevision(last, entry) > 0) group.entries.sort(byCreateRevision);
    this.keyIndex.set(entry.keyHex, id);
  }

  private removeEntry(keyHex: string): { id: string; entry: EtcdEntry } | null {
    const id = this.keyIndex.get(keyHex);
    const group = id === undefined ? undefined : this.groups.get(id);
    if (id === undefined || !group) return null;
    this.keyIndex.delete(keyHex);
    const index = group.entries.findIndex((e) => e.keyHex === keyHex);
    if (index < 0) return null;
    const [entry] = group.entries.splice(index, 1);
    return { id, entry: entry! };
  }

  private rememberHold(id: string, group: LockGroup, lookup: LeaseLookup | undefined, at: number): void {
    const owner = group.entries[0];
    if (!owner) {
      this.holdMeta.delete(id);
      return;
    }
    this.holdMeta.set(id, {
      holdId: holdIdOf(group, owner),
      lease: owner.lease,
      facts: { ttlMs: lookup?.grantedMs ?? null, remainingMs: lookup ? (lookup.gone ? 0 : lookup.remainingMs) : null },
      factsAt: lookup?.at ?? at,
      earliestExpiryAt: lookup && !lookup.gone && lookup.remainingMs !== null ? lookup.at + lookup.remainingMs : null,
    });
  }

  private observation(id: string, group: LockGroup, seq: bigint, at: number, extra: Partial<LockObservation>): LockObservation {
    const meta = this.holdMeta.get(id);
    const owner = group.entries[0];
    const current = owner && meta && meta.holdId === holdIdOf(group, owner) ? meta : undefined;
    // Renewals are invisible, so an old remaining TTL says nothing about now.
    const facts = current && { ttlMs: current.facts.ttlMs, remainingMs: at - current.factsAt <= FRESH_FACTS_MS ? current.facts.remainingMs : null };
    return {
      source: this.source,
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
}

function holdIdOf(group: LockGroup, entry: EtcdEntry): string {
  return group.dialect === 'etcd-mutex' ? mutexHoldId(entry) : leaseKeyHoldId(entry);
}

function groupFromId(id: string): LockGroup {
  return { lockKey: Buffer.from(id.slice(2), 'hex'), id, dialect: id.startsWith('m:') ? 'etcd-mutex' : 'etcd-lease-key', entries: [] };
}

/** Why the owner key `owner` was deleted, from a lookup of its lease (undefined: no lease). */
function endCauseOf(owner: EtcdEntry, meta: HoldMeta | undefined, replayed: boolean, at: number, lookup: LeaseLookup | undefined): EndCause {
  if (owner.lease === 0n || !lookup || !lookup.gone) return 'released';
  // The lease is gone: lapsed, or revoked (npm etcd3 Lock.release revokes). Long after the fact nobody can tell.
  if (replayed) return 'unknown';
  if (meta?.earliestExpiryAt != null && at < meta.earliestExpiryAt - EXPIRY_SLACK_MS) return 'released';
  return 'expired';
}
