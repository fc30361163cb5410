import { errorText, type EtcdClient } from './etcd-client.js';
import type { EtcdEntry } from './etcd-dialect.js';
import type { LeaseLookup } from './etcd-reconciler.js';

/** Parallel LeaseTimeToLive calls during list() and resyncs. */
const LEASE_LOOKUP_CONCURRENCY = 32;
/** A remembered lease is trusted only while it has at least this long left to live. */
const LEASE_MEMO_MARGIN_MS = 1_500;
const LEASE_MEMO_LIMIT = 100_000;

/**
 * LeaseTimeToLive calls of one source. What the last lookups proved about each
 * lease is remembered: it cannot lapse before `aliveUntil` (only a revoke ends
 * it sooner, and a key deleted by a revoke counts as released anyway). That
 * lets the watch skip a lookup per hold when many holds share a session lease,
 * which is how Go's concurrency sessions work.
 */
export class LeaseLookups {
  private readonly memo = new Map<bigint, { grantedMs: number | null; aliveUntil: number }>();

  constructor(
    private readonly client: () => EtcdClient,
    private readonly now: () => number,
    /** Called after every answer from etcd (health: last seen). */
    private readonly seen: () => void,
  ) {}

  /** A live lookup (list, checkLease, release), remembered for the watch. */
  async lookup(lease: bigint, keys = false): Promise<LeaseLookup & { keys: Buffer[] }> {
    const result = await this.uncached(lease, keys);
    if (result.gone || result.remainingMs === null) {
      this.memo.delete(lease);
    } else {
      if (this.memo.size >= LEASE_MEMO_LIMIT) this.memo.clear();
      this.memo.set(lease, { grantedMs: result.grantedMs, aliveUntil: result.at + result.remainingMs });
    }
    return result;
  }

  /** A lookup for the watch path: answered from what is proven when that is enough. */
  async forWatch(lease: bigint): Promise<LeaseLookup> {
    const memo = this.memo.get(lease);
    const t = this.now();
    if (memo && memo.aliveUntil - t > LEASE_MEMO_MARGIN_MS) {
      // Whole seconds, rounded down, like etcd's own answer: a lower bound.
      return { gone: false, grantedMs: memo.grantedMs, remainingMs: Math.floor((memo.aliveUntil - t) / 1000) * 1000, at: t };
    }
    return this.lookup(lease);
  }

  /** Lookups of many leases, a few at a time. */
  async many(leases: Iterable<bigint>, watch = false): Promise<Map<bigint, LeaseLookup>> {
    const distinct = [...new Set(leases)].filter((l) => l !== 0n);
    const out = new Map<bigint, LeaseLookup>();
    await mapLimit(distinct, LEASE_LOOKUP_CONCURRENCY, async (lease) => {
      out.set(lease, watch ? await this.forWatch(lease) : await this.lookup(lease));
    });
    return out;
  }

  /** Lookups of the leases of these owner keys. */
  async ofOwners(owners: EtcdEntry[]): Promise<Map<bigint, LeaseLookup>> {
    return this.many(owners.map((o) => o.lease));
  }

  private async uncached(lease: bigint, keys: boolean): Promise<LeaseLookup & { keys: Buffer[] }> {
    try {
      const res = await this.client().call(
        'a lease lookup',
        (cl) => cl.leaseClient.leaseTimeToLive({ ID: lease.toString(), keys }),
        (e) => /lease not found/i.test(errorText(e)),
      );
      this.seen();
      const ttl = Number(res.TTL);
      const granted = Number(res.grantedTTL);
      return {
        gone: ttl < 0,
        grantedMs: granted > 0 ? granted * 1000 : null,
        remainingMs: ttl < 0 ? 0 : ttl * 1000,
        at: this.now(),
        keys: res.keys ?? [],
      };
    } catch (error) {
      if (/lease not found/i.test(errorText(error))) return { gone: true, grantedMs: null, remainingMs: 0, at: this.now(), keys: [] };
      throw error;
    }
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
