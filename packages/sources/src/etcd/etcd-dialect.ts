import { displayKey, toHex, type Dialect, type HoldObservation, type WaiterObservation } from '@lockscope/core';

/** Bytes of a value kept in memory; the rest is only counted (values may be 1 MB). */
export const VALUE_KEEP_BYTES = 512;
/** Characters of a value shown to people before it is cut. */
const VALUE_SHOW_CHARS = 80;

/** One etcd key as the source keeps it: identity from raw bytes, value truncated. */
export interface EtcdEntry {
  key: Buffer;
  keyHex: string;
  createRevision: bigint;
  modRevision: bigint;
  /** 0n when the key has no lease. */
  lease: bigint;
  /** At most VALUE_KEEP_BYTES of the value. */
  value: Buffer;
  valueLength: number;
  /** Wall ms the key was seen being created; null when first seen in a range read. */
  firstSeenAt: number | null;
}

export interface RawKv {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  lease: string;
  value: Buffer;
}

export function toEntry(kv: RawKv, firstSeenAt: number | null): EtcdEntry {
  const value = kv.value ?? Buffer.alloc(0);
  return {
    key: Buffer.from(kv.key),
    keyHex: kv.key.toString('hex'),
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
    lease: BigInt(kv.lease || '0'),
    // A copy, so a 1 MB response buffer is not kept alive by a slice of it.
    value: Buffer.from(value.subarray(0, VALUE_KEEP_BYTES)),
    valueLength: value.length,
    firstSeenAt,
  };
}

export function leaseHex(lease: bigint): string {
  return lease.toString(16);
}

export interface DialectOverride {
  pattern: RegExp;
  dialect: Dialect;
}

/** `dialects:` config globs (`*` any run of characters, `?` one) matched against display keys. */
export function compileOverrides(dialects: Record<string, Dialect> | undefined): DialectOverride[] {
  return Object.entries(dialects ?? {}).map(([glob, dialect]) => ({
    pattern: new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's'),
    dialect,
  }));
}

export interface KeyClass {
  dialect: Dialect;
  /** Raw bytes of the lock: the parent path for mutex contenders, the key itself otherwise. */
  lockKey: Buffer;
}

/**
 * Go's concurrency.Mutex/Election (and `etcdctl lock`) write `<pfx>/<lease id in
 * lowercase hex>` under that same lease; npm etcd3's Election writes the lease id in
 * decimal. Requiring the lease to match the last segment keeps single-key locks whose
 * names merely look like ids out of the recipe. A `dialects:` glob forces the dialect;
 * an etcd-mutex glob may name the contender keys or the lock (their parent path), and
 * then any last segment is a contender, whatever it looks like.
 */
export function classifyKey(key: Buffer, lease: bigint, overrides: DialectOverride[] = []): KeyClass {
  const slash = key.lastIndexOf(0x2f);
  let forced: Dialect | undefined;
  if (overrides.length > 0) {
    const display = displayKey(key);
    forced = overrides.find((o) => o.pattern.test(display))?.dialect;
    if (forced === undefined && slash > 0) {
      const parent = displayKey(key.subarray(0, slash));
      forced = overrides.find((o) => o.dialect === 'etcd-mutex' && o.pattern.test(parent))?.dialect;
    }
  }
  if (slash >= 0 && forced !== 'etcd-lease-key') {
    const segment = key.subarray(slash + 1).toString('latin1');
    const matchesLease = lease !== 0n && (segment === leaseHex(lease) || segment === lease.toString(10));
    if (matchesLease || (forced === 'etcd-mutex' && segment.length > 0)) {
      return { dialect: 'etcd-mutex', lockKey: Buffer.from(key.subarray(0, slash)) };
    }
  }
  return { dialect: 'etcd-lease-key', lockKey: Buffer.from(key) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A value as text a terminal or browser can show: null when empty or binary;
 * control characters escaped; long values cut with their byte length noted.
 */
export function safeValue(entry: Pick<EtcdEntry, 'value' | 'valueLength'>): string | null {
  if (entry.valueLength === 0) return null;
  let text: string | null = null;
  // The kept prefix may end inside a multi-byte character: drop up to 3 bytes.
  for (let cut = 0; cut <= 3 && text === null; cut++) {
    if (cut > 0 && entry.valueLength <= entry.value.length) break;
    try {
      text = utf8.decode(entry.value.subarray(0, entry.value.length - cut));
    } catch {
      text = null;
    }
  }
  if (text === null) return null;
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const truncated = escaped.length > VALUE_SHOW_CHARS || entry.valueLength > entry.value.length;
  return truncated ? `${escaped.slice(0, VALUE_SHOW_CHARS)}… (${entry.valueLength} bytes)` : escaped;
}

export function mutexHoldId(entry: EtcdEntry): string {
  return `${entry.keyHex}@${entry.createRevision}`;
}

export function leaseKeyHoldId(entry: EtcdEntry): string {
  return `@${entry.createRevision}`;
}

/** Splits a holdId into the owner key (null: the lock key itself) and create_revision. */
export function parseHoldId(holdId: string): { ownerKey: Buffer | null; createRevision: bigint } | null {
  const m = /^([0-9a-f]*)@(\d+)$/.exec(holdId);
  if (!m) return null;
  return { ownerKey: m[1] ? Buffer.from(m[1], 'hex') : null, createRevision: BigInt(m[2]!) };
}

export function holderDisplay(dialect: Dialect, entry: EtcdEntry): string {
  const value = safeValue(entry);
  if (dialect === 'etcd-mutex') {
    const id = entry.lease !== 0n ? leaseHex(entry.lease) : displayKey(entry.key.subarray(entry.key.lastIndexOf(0x2f) + 1));
    if (entry.valueLength === 0) return id;
    return `${id} (${value ?? `${entry.valueLength} bytes binary`})`;
  }
  if (value !== null) return value;
  if (entry.lease !== 0n) return `lease ${leaseHex(entry.lease)}`;
  return entry.valueLength > 0 ? `${entry.valueLength} bytes binary` : '(empty)';
}

/** What the source knows of a lease when it builds a hold. */
export interface LeaseFacts {
  ttlMs: number | null;
  remainingMs: number | null;
}

/** One lock's keys, in create_revision order for the mutex recipe. */
export interface LockGroup {
  lockKey: Buffer;
  /** Dialect letter and key hex: the same bytes can name a single-key lock and a mutex parent. */
  id: string;
  dialect: Dialect;
  entries: EtcdEntry[];
}

export function groupId(dialect: Dialect, lockKey: Uint8Array): string {
  return `${dialect === 'etcd-mutex' ? 'm' : 'k'}:${toHex(lockKey)}`;
}

/** Groups keys into locks. Entries of a mutex group are sorted by create_revision. */
export function groupEntries(entries: EtcdEntry[], overrides: DialectOverride[] = []): Map<string, LockGroup> {
  const groups = new Map<string, LockGroup>();
  for (const entry of entries) {
    const { dialect, lockKey } = classifyKey(entry.key, entry.lease, overrides);
    const id = groupId(dialect, lockKey);
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { lockKey, id, dialect, entries: [] }));
    group.entries.push(entry);
  }
  for (const group of groups.values()) group.entries.sort(byCreateRevision);
  return groups;
}

export function byCreateRevision(a: EtcdEntry, b: EtcdEntry): number {
  return a.createRevision < b.createRevision ? -1 : a.createRevision > b.createRevision ? 1 : 0;
}

/** The current hold of a group (entries sorted), or null. */
export function holdOf(group: LockGroup, lease: LeaseFacts | undefined): HoldObservation | null {
  const owner = group.entries[0];
  if (!owner) return null;
  const holdId = group.dialect === 'etcd-mutex' ? mutexHoldId(owner) : leaseKeyHoldId(owner);
  return {
    holdId,
    holder: holderDisplay(group.dialect, owner),
    token: owner.createRevision.toString(),
    ttlMs: owner.lease === 0n ? null : (lease?.ttlMs ?? null),
    remainingMs: owner.lease === 0n ? null : (lease?.remainingMs ?? null),
    lease: owner.lease === 0n ? null : leaseHex(owner.lease),
    waiterId: group.dialect === 'etcd-mutex' ? holdId : null,
  };
}

export function waitersOf(group: LockGroup): WaiterObservation[] | null {
  if (group.dialect !== 'etcd-mutex') return null;
  return group.entries.slice(1).map((e) => ({
    id: mutexHoldId(e),
    holder: holderDisplay(group.dialect, e),
    since: e.firstSeenAt,
    token: e.createRevision.toString(),
  }));
}

/** The key's bytes a range over `prefix` ends at (etcd's prefix range_end). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Drops prefixes covered by a shorter one, so no key is watched twice. */
export function normalisePrefixes(prefixes: string[]): Buffer[] {
  const sorted = [...new Set(prefixes)].map((p) => Buffer.from(p, 'utf8')).sort((a, b) => a.length - b.length);
  const kept: Buffer[] = [];
  for (const p of sorted) if (!kept.some((k) => p.subarray(0, k.length).equals(k))) kept.push(p);
  return kept;
}
