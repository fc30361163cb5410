import type { Etcd3, IKeyValue, IRangeRequest } from 'etcd3';
import { StoppedError } from '../abortable.js';
import type { EtcdSession } from './session.js';

/** etcd's prefix range end: the prefix with its last byte incremented. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function firstCreate(pfx: string): IRangeRequest {
  const key = Buffer.from(pfx);
  return { key, range_end: prefixEnd(key), sort_order: 'Ascend', sort_target: 'Create', limit: 1 };
}

export class SessionExpiredError extends Error {
  constructor(key: string) {
    super(`session expired: ${key} is gone`);
    this.name = 'SessionExpiredError';
  }
}

/**
 * Go's waitDeletes: while any key under pfx was created at or before
 * maxCreateRev, wait for the newest of them to be deleted. Each waiter
 * watches only the key just ahead of it, so a release wakes one waiter.
 */
export async function waitDeletes(client: Etcd3, pfx: string, maxCreateRev: bigint, signal: AbortSignal): Promise<void> {
  const key = Buffer.from(pfx);
  for (;;) {
    if (signal.aborted) throw new StoppedError();
    const res = await client.kv.range({
      key,
      range_end: prefixEnd(key),
      sort_order: 'Descend',
      sort_target: 'Create',
      limit: 1,
      max_create_revision: maxCreateRev.toString(),
    });
    const last = res.kvs[0];
    if (!last) return;
    await waitDelete(client, last.key, BigInt(res.header.revision), signal);
  }
}

async function waitDelete(client: Etcd3, key: Buffer, rev: bigint, signal: AbortSignal): Promise<void> {
  const watcher = await client.watch().key(key).startRevision(rev.toString()).create();
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new StoppedError());
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      watcher.on('delete', () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      watcher.on('error', (error: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      });
    });
  } finally {
    await watcher.cancel().catch(() => undefined);
  }
}

export interface Acquired {
  /** The fencing token: create_revision of our key. */
  token: bigint;
  /** Whether another key was ahead of ours, i.e. we were a visible waiter. */
  waited: boolean;
  waitedMs: number;
}

/**
 * Go's concurrency.Mutex over the npm etcd3 client: put `<pfx>/<lease hex>`
 * under the session lease if absent, the lowest create_revision under the
 * prefix holds, everyone else waits for the deletion of the key just before
 * theirs.
 */
export class EtcdMutex {
  readonly pfx: string;
  readonly myKey: string;
  private myRev = 0n;

  constructor(
    private readonly client: Etcd3,
    private readonly session: EtcdSession,
    name: string,
    /** Election writes the candidate's value; Mutex writes an empty value. */
    private readonly value = '',
  ) {
    this.pfx = `${name}/`;
    this.myKey = `${this.pfx}${session.leaseHex}`;
  }

  get token(): bigint {
    return this.myRev;
  }

  async lock(signal: AbortSignal): Promise<Acquired> {
    const started = performance.now();
    const key = Buffer.from(this.myKey);
    const res = await this.client.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key, value: Buffer.from(this.value), lease: this.session.leaseId } }, { request_range: firstCreate(this.pfx) }],
      failure: [{ request_range: { key } }, { request_range: firstCreate(this.pfx) }],
    });
    this.myRev = BigInt(res.header.revision);
    if (!res.succeeded) {
      const mine = res.responses[0]!.response_range.kvs[0];
      if (mine) this.myRev = BigInt(mine.create_revision);
    }
    const owner = res.responses[1]!.response_range.kvs[0];
    if (!owner || BigInt(owner.create_revision) === this.myRev) return { token: this.myRev, waited: false, waitedMs: performance.now() - started };
    try {
      await waitDeletes(this.client, this.pfx, this.myRev - 1n, signal);
    } catch (error) {
      // Go's Lock unlocks on a cancelled wait so the queue does not keep a dead waiter.
      await this.unlock().catch(() => undefined);
      throw error;
    }
    const mine = await this.client.kv.range({ key });
    if (mine.kvs.length === 0) throw new SessionExpiredError(this.myKey);
    return { token: this.myRev, waited: true, waitedMs: performance.now() - started };
  }

  /** True while our key is still there with the revision we acquired with. */
  async isOwner(): Promise<boolean> {
    const res = await this.client.kv.range({ key: Buffer.from(this.myKey) });
    const kv: IKeyValue | undefined = res.kvs[0];
    return kv !== undefined && BigInt(kv.create_revision) === this.myRev;
  }

  /** Proclaim (Election): a new value on the leader key, only while our hold is the same one. */
  async proclaim(value: string): Promise<boolean> {
    const key = Buffer.from(this.myKey);
    const res = await this.client.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: this.myRev.toString() }],
      success: [{ request_put: { key, value: Buffer.from(value), lease: this.session.leaseId } }],
    });
    return res.succeeded;
  }

  async unlock(): Promise<void> {
    await this.client.kv.deleteRange({ key: Buffer.from(this.myKey) });
    this.myRev = 0n;
  }
}
