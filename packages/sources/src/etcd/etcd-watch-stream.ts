import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import type { EtcdClient } from './etcd-client.js';

/** How often an idle watch asks etcd for a progress answer, proving the stream alive (lastSeenAt). */
const HEARTBEAT_MS = 10_000;
/** A stream with no answer at all for this long is treated as dead and reopened. */
const SILENCE_LIMIT_MS = 3 * HEARTBEAT_MS;

export interface PrefixWatch {
  prefix: Buffer;
  rangeEnd: Buffer;
  /** Everything up to this revision has been delivered to the sink. */
  delivered: bigint;
}

/** What the stream tells the source. Every call but onFail runs inside `enqueue`, one after another. */
export interface WatchStreamHandlers {
  /** Any answer at all (health: last seen). */
  onAnswer(): void;
  /** A watch was created when the store was at `head`: events up to it happened before (replays). */
  onCreated(head: bigint): void;
  /** Every prefix is watched. */
  onReady(): void;
  /** The events of one revision under prefix `index`, in order. */
  onRevision(index: number, revision: bigint, events: IEvent[]): Promise<void>;
  /** Nothing newer than `revision` under prefix `index`. */
  onProgress(index: number, revision: bigint): void;
  /** The revisions the watch needed were compacted away. The stream is closed already. */
  onCompacted(): Promise<void>;
  /** The stream failed or ended. The stream is closed already. */
  onFail(error: unknown): void;
}

/**
 * One etcd watch stream over every prefix, resuming each after its delivered
 * revision. Its AbortController is its life: close() aborts it, and every
 * callback of a closed stream drops out, so a late answer of an old stream can
 * never be applied after a new one opened.
 */
export class WatchStream {
  private readonly controller = new AbortController();
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private pendingCreates: number[] = [];
  private readonly watchIds = new Map<string, number>();
  /** Events of a fragmented response, per watch id, until its last fragment arrives. */
  private readonly fragments = new Map<string, IEvent[]>();
  /** Monotonic ms of the last response. */
  private lastAnswerAt = 0;

  constructor(
    private readonly prefixes: PrefixWatch[],
    private readonly handlers: WatchStreamHandlers,
    /** Runs responses strictly one after another (with the source's other state changes). */
    private readonly enqueue: (task: () => Promise<void>) => Promise<void>,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get closed(): boolean {
    return this.controller.signal.aborted;
  }

  async open(client: EtcdClient): Promise<void> {
    const stream = await client.call('opening a watch', (cl) => cl.watchClient.watch());
    if (this.closed) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (res) => {
      if (this.closed) return;
      void this.enqueue(() => this.handle(res)).catch((error: unknown) => this.fail(error));
    });
    stream.on('error', (error) => this.fail(error));
    stream.on('end', () => this.fail(new Error('the watch stream ended')));
    this.lastAnswerAt = performance.now();
    this.heartbeat = setInterval(() => {
      if (this.closed) return;
      if (performance.now() - this.lastAnswerAt > SILENCE_LIMIT_MS) {
        this.fail(new Error(`etcd did not answer on the watch stream for ${SILENCE_LIMIT_MS / 1000} s`));
        return;
      }
      try {
        stream.write({ progress_request: {} });
      } catch (error) {
        this.fail(error);
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    this.pendingCreates = this.prefixes.map((_, i) => i);
    for (const p of this.prefixes) {
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

  close(): void {
    if (this.closed) return;
    this.controller.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const stream = this.stream;
    this.stream = null;
    if (stream) {
      try {
        stream.cancel();
      } catch {
        // Already torn down by gRPC: nothing left to cancel.
      }
    }
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    this.close();
    this.handlers.onFail(error);
  }

  private async handle(res: IWatchResponse): Promise<void> {
    if (this.closed) return;
    this.handlers.onAnswer();
    this.lastAnswerAt = performance.now();
    // The answer to our progress_request (etcd sends it with watch id -1). On etcd 3.4 its revision
    // may run ahead of events still queued for a watcher, so it proves liveness, not delivery.
    if (res.watch_id === '-1' && !res.created && res.events.length === 0) return;
    if (res.created) {
      this.handlers.onCreated(BigInt(res.header.revision));
      const index = this.pendingCreates.shift();
      if (index !== undefined && !res.canceled) this.watchIds.set(res.watch_id, index);
      if (this.pendingCreates.length === 0 && !res.canceled) this.handlers.onReady();
    }
    if (res.canceled) {
      if (BigInt(res.compact_revision || '0') > 0n) {
        this.close();
        await this.handlers.onCompacted();
        return;
      }
      throw new Error(`etcd cancelled the watch${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`);
    }
    if (res.created) return;
    const index = this.watchIds.get(res.watch_id);
    if (index === undefined) return;
    if (res.fragment) {
      // A revision too big for one message (many 1 MB prev_kvs): apply it only once whole.
      this.fragments.set(res.watch_id, [...(this.fragments.get(res.watch_id) ?? []), ...res.events]);
      return;
    }
    let events = res.events;
    const held = this.fragments.get(res.watch_id);
    if (held) {
      this.fragments.delete(res.watch_id);
      events = [...held, ...events];
    }
    if (events.length === 0) {
      this.handlers.onProgress(index, BigInt(res.header.revision));
      return;
    }
    let batch: IEvent[] = [];
    let batchRevision = -1n;
    for (const event of events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision !== batchRevision && batch.length > 0) {
        await this.handlers.onRevision(index, batchRevision, batch);
        if (this.closed) return;
        batch = [];
      }
      batchRevision = revision;
      batch.push(event);
    }
    if (batch.length > 0) await this.handlers.onRevision(index, batchRevision, batch);
  }
}
