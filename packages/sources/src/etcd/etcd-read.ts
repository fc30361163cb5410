import { displayKey, lookupKeys, parseHexName, type LiveLock } from '@lockscope/core';
import type { ReleaseRequest } from '../source.js';
import { isCompactedError, isFutureRevisionError, isTooLargeError, type EtcdClient } from './etcd-client.js';
import {
  groupEntries,
  holdOf,
  parseHoldId,
  prefixRangeEnd,
  toEntry,
  waitersOf,
  type DialectOverride,
  type EtcdEntry,
  type LockGroup,
} from './etcd-dialect.js';
import type { LeaseLookups } from './etcd-leases.js';
import type { LeaseLookup } from './etcd-reconciler.js';

/** Keys per range page to start with; a page too large for the gRPC limit is retried smaller. */
const RANGE_PAGE = 5_000;

export interface RangeRead {
  entries: EtcdEntry[];
  /** The revision the range was read at. */
  revision: bigint;
  /** The store's head revision when it answered. */
  head: bigint;
}

/** What reads need from the source: its client, prefixes, dialect overrides, clock and lease lookups. */
export interface ReadContext {
  source: string;
  client: () => EtcdClient;
  prefixes: Buffer[];
  overrides: DialectOverride[];
  now: () => number;
  leases: LeaseLookups;
  /** Called after every answer from etcd (health: last seen). */
  seen: () => void;
}

/**
 * Reads [start, end) (one key when end is null) at `revision` (null: now), page
 * by page at the same revision, so a lock is never half old, half new.
 */
export async function readRange(ctx: ReadContext, start: Buffer, end: Buffer | null, revision: bigint | null): Promise<RangeRead> {
  const c = ctx.client();
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
    ctx.seen();
    head = BigInt(res.header.revision);
    rev ??= head;
    for (const kv of res.kvs) entries.push(toEntry(kv, null));
    const last = res.kvs.at(-1);
    if (!end || !res.more || !last) break;
    key = Buffer.concat([last.key, Buffer.from([0])]);
  }
  return { entries, revision: rev ?? head, head };
}

/** Every lock under the prefixes now. */
export async function snapshot(ctx: ReadContext): Promise<LockGroup[]> {
  const entries: EtcdEntry[] = [];
  for (const prefix of ctx.prefixes) entries.push(...(await readRange(ctx, prefix, prefixRangeEnd(prefix), null)).entries);
  return [...groupEntries(entries, ctx.overrides).values()];
}

function toLiveLock(source: string, group: LockGroup, lookup: LeaseLookup | undefined, at: number): LiveLock {
  return {
    source,
    key: new Uint8Array(group.lockKey),
    name: displayKey(group.lockKey),
    dialect: group.dialect,
    hold: holdOf(group, lookup ? { ttlMs: lookup.grantedMs, remainingMs: lookup.gone ? 0 : lookup.remainingMs } : undefined),
    waiters: waitersOf(group),
    at,
  };
}

/** The groups as LiveLocks, with a live lease lookup per owner, sorted by name. */
export async function liveLocks(ctx: ReadContext, groups: LockGroup[]): Promise<LiveLock[]> {
  const owners = groups.map((g) => g.entries[0]).filter((e): e is EtcdEntry => e !== undefined);
  const leases = await ctx.leases.ofOwners(owners);
  const at = ctx.now();
  return groups
    .map((g) => toLiveLock(ctx.source, g, g.entries[0] ? leases.get(g.entries[0].lease) : undefined, at))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The lock shown as `name`, or given by its exact `hex:` form: direct reads of each key it
 * may be (and of their children), a full scan only for names with more escapes than
 * lookupKeys combines.
 */
export async function findGroup(ctx: ReadContext, name: string): Promise<LockGroup | null> {
  const keys = lookupKeys(name).map((k) => Buffer.from(k));
  const wanted = new Set(keys.map((k) => k.toString('hex')));
  const reads = await Promise.all(
    keys.flatMap((bytes) => {
      const children = Buffer.concat([bytes, Buffer.from('/')]);
      return [readRange(ctx, bytes, null, null), readRange(ctx, children, prefixRangeEnd(children), null)];
    }),
  );
  const inPrefixes = (key: Buffer) => ctx.prefixes.some((p) => key.subarray(0, p.length).equals(p));
  const direct = reads.flatMap((r) => r.entries).filter((e) => inPrefixes(e.key));
  const found = [...groupEntries(direct, ctx.overrides).values()].find((g) => wanted.has(g.lockKey.toString('hex')) && g.entries.length > 0);
  if (found) return found;
  if (parseHexName(name) !== null || !name.includes('\\x')) return null;
  return [...(await snapshot(ctx))].find((g) => displayKey(g.lockKey) === name && g.entries.length > 0) ?? null;
}

/** Whether the hold the caller saw really existed (so the lock is free now, not unknown). */
export async function heldBefore(ctx: ReadContext, request: ReleaseRequest): Promise<boolean> {
  const parsed = request.expectHoldId ? parseHoldId(request.expectHoldId) : null;
  const token = parsed?.createRevision ?? (request.expectToken && /^\d+$/.test(request.expectToken) ? BigInt(request.expectToken) : null);
  if (token === null) return false;
  const name = Buffer.from(request.name, 'utf8');
  const candidates = parsed?.ownerKey ? [parsed.ownerKey] : [name];
  try {
    for (const key of candidates) {
      const { entries } = await readRange(ctx, key, null, token);
      if (entries.some((e) => e.createRevision === token)) return true;
    }
    const children = Buffer.concat([name, Buffer.from('/')]);
    const { entries } = await readRange(ctx, children, prefixRangeEnd(children), token);
    return entries.some((e) => e.createRevision === token);
  } catch (error) {
    // Compacted history: the caller saw the hold, believe them.
    if (isCompactedError(error)) return true;
    throw error;
  }
}
