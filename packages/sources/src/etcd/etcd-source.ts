import { LockscopeError, type EtcdSourceConfig, type LiveLock } from '@lockscope/core';
import type { IEvent } from 'etcd3';
import type { LeaseCheck, LockSource, ObservationSink, ReleaseRequest, ReleaseResult, SourceHealth, WatchOptions } from '../source.js';
import { Backoff, type BackoffPolicy } from '../backoff.js';
import { waitAtMost } from '../deadline.js';
import { createEtcdClient, isCompactedError, isFutureRevisionError, toSourceError, type EtcdClient } from './etcd-client.js';
import { compileOverrides, normalisePrefixes, parseHoldId, prefixRangeEnd } from './etcd-dialect.js';
import { LeaseLookups } from './etcd-leases.js';
import { findGroup, liveLocks, readRange, snapshot, type RangeRead, type ReadContext } from './etcd-read.js';
import { EtcdReconciler } from './etcd-reconciler.js';
import { releaseLock } from './etcd-release.js';
import { WatchStream, type PrefixWatch } from './etcd-watch-stream.js';

/** Reconnects of the watch: 250 ms after a blip, at most every 30 s during a long outage. */
const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 30_000 };
/** stop() waits this long for an in-flight revision before closing the client anyway. */
const STOP_DEADLINE_MS = 2_000;
/** watch() waits this long for the watches to be created before returning anyway (health says the rest). */
const CREATED_DEADLINE_MS = 10_000;

export interface EtcdSourceOptions {
  /** Wall clock in ms (tests pin it). */
  now?: () => number;
  /** gRPC receive limit in bytes (default 64 MB). */
  maxReceiveBytes?: number;
}

/** One watch(): its AbortController ends everything it started (stop, or a new watch after a failed one). */
interface Session {
  sink: ObservationSink;
  controller: AbortController;
  /** Resume point given to watch(); used only for the first sync. */
  resumeRevision: bigint | null;
  synced: boolean;
  /** State may be partly applied (a revision failed midway): the next connect re-reads. */
  needsResync: boolean;
  prefixes: PrefixWatch[];
  /** Events up to this revision happened before the watch connected (replayed). */
  replayUntil: bigint;
  lastProgress: bigint;
  stream: WatchStream | null;
  onCreated: (() => void) | null;
  timer: NodeJS.Timeout | null;
  backoff: Backoff;
  /** Responses, resyncs and reconnects run strictly one after another, lease lookups included. */
  queue: Promise<void>;
}

/**
 * The etcd LockSource: Go mutex/election recipe keys (`<lock>/<lease hex>`,
 * `etcdctl lock`) and single-key lease locks (npm etcd3 Lock, python-etcd3)
 * under the configured prefixes. Watches resume by revision; leases are looked
 * up only when a hold starts or ends and when the collector asks (checkLease).
 *
 * This file is the adapter (connect, read, watch, reconnect, stop). What the
 * keys mean is etcd-reconciler.ts; reads etcd-read.ts, leases etcd-leases.ts,
 * the watch stream etcd-watch-stream.ts, release etcd-release.ts.
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
  const reconciler = new EtcdReconciler({ source: config.name, overrides });

  const client = (): EtcdClient => {
    etcd ??= createEtcdClient(config, {
      ...(options.maxReceiveBytes ? { maxReceiveBytes: options.maxReceiveBytes } : {}),
      // Whether the source is connected is the watch stream's to say; a failed call only sets the error.
      onError: (error) => setHealth({ lastError: error.message }),
    });
    return etcd;
  };

  const active = (s: Session | null): s is Session => s !== null && !s.controller.signal.aborted;

  function setHealth(patch: Partial<SourceHealth>): void {
    const changed = (Object.keys(patch) as (keyof SourceHealth)[]).some((k) => health[k] !== patch[k]);
    Object.assign(health, patch);
    if (changed) session?.sink.health?.({ ...health });
  }

  const seen = (): void => {
    health.lastSeenAt = now();
    // An answer clears a past call's error, unless the watch itself is still down.
    const watchDown = active(session) && !health.connected;
    if (health.lastError !== null && !watchDown) setHealth({ lastError: null });
  };

  const leases = new LeaseLookups(client, now, seen);
  const ctx: ReadContext = { source: config.name, client, prefixes, overrides, now, leases, seen };

  function enqueue(s: Session, task: () => Promise<void>): Promise<void> {
    const run = s.queue.then(task);
    s.queue = run.catch(() => undefined);
    return run;
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
    const reads: RangeRead[] = [];
    for (const p of s.prefixes) reads.push(await readRange(ctx, p.prefix, p.rangeEnd, null));
    if (!active(s)) return;
    const entries = reads.flatMap((r) => r.entries);
    const lookups = await leases.ofOwners(reconciler.unknownOwners(entries));
    if (!active(s)) return;
    const at = now();
    const revision = reads.reduce((max, r) => (r.revision > max ? r.revision : max), 0n);
    const { observations, live } = reconciler.resync(entries, lookups, revision, at);
    for (const o of observations) s.sink.observe(o);
    s.sink.resynced?.(config.name, live, at);
    s.prefixes.forEach((p, i) => (p.delivered = reads[i]!.revision));
    s.replayUntil = 0n;
    s.needsResync = false;
    reportProgress(s);
  }

  /** Resume: the state as it was at `revision`, nothing delivered (the sink has it); replay follows. */
  async function loadAt(s: Session, revision: bigint): Promise<boolean> {
    const reads: RangeRead[] = [];
    try {
      for (const p of s.prefixes) reads.push(await readRange(ctx, p.prefix, p.rangeEnd, revision));
    } catch (error) {
      if (isCompactedError(error) || isFutureRevisionError(error)) return false;
      throw error;
    }
    reconciler.load(reads.flatMap((r) => r.entries));
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

  async function applyRevision(s: Session, stream: WatchStream, index: number, revision: bigint, events: IEvent[]): Promise<void> {
    const at = now();
    health.lastEventAt = at;
    s.needsResync = true;
    const staged = reconciler.stage(events, revision, at, revision <= s.replayUntil);
    const lookups = staged.leases.length > 0 ? await leases.many(staged.leases, true) : new Map();
    if (stream.closed || !active(s)) return;
    for (const o of reconciler.finish(staged, lookups)) s.sink.observe(o);
    s.needsResync = false;
    const p = s.prefixes[index]!;
    if (revision > p.delivered) p.delivered = revision;
    reportProgress(s);
  }

  async function openStream(s: Session): Promise<void> {
    s.stream?.close();
    const stream: WatchStream = new WatchStream(
      s.prefixes,
      {
        onAnswer: seen,
        onCreated: (head) => {
          if (head > s.replayUntil) s.replayUntil = head;
        },
        onReady: () => {
          s.backoff.reset();
          setHealth({ connected: true, lastError: null });
          s.onCreated?.();
          if (health.version == null) {
            client()
              .call('a status probe', (cl) => cl.maintenance.status())
              .then((status) => setHealth({ version: status.version }))
              .catch(() => undefined);
          }
        },
        onRevision: (index, revision, events) => applyRevision(s, stream, index, revision, events),
        onProgress: (index, revision) => {
          const p = s.prefixes[index]!;
          if (revision > p.delivered) p.delivered = revision;
          reportProgress(s);
        },
        onCompacted: async () => {
          // The revisions we needed are gone: re-read everything, tell the sink, watch on from the read.
          s.needsResync = true;
          try {
            await initialSync(s);
            if (active(s)) await openStream(s);
          } catch (error) {
            if (!active(s)) return;
            setHealth({ connected: false, lastError: toSourceError(config, 'resyncing after compaction', error).message });
            scheduleReconnect(s);
          }
        },
        onFail: (error) => {
          if (!active(s)) return;
          setHealth({ connected: false, lastError: toSourceError(config, 'watching', error).message });
          s.onCreated?.();
          scheduleReconnect(s);
        },
      },
      (task) => enqueue(s, task),
    );
    s.stream = stream;
    await stream.open(client());
  }

  function scheduleReconnect(s: Session): void {
    if (!active(s) || s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = null;
      const previous = s.stream;
      enqueue(s, async () => {
        if (!active(s)) return;
        await initialSync(s);
        // Another path (a compaction resync) opened a newer stream meanwhile: keep it.
        if (active(s) && s.stream === previous) await openStream(s);
      }).catch((error: unknown) => {
        if (!active(s)) return;
        setHealth({ connected: false, lastError: toSourceError(config, 'reconnecting', error).message });
        scheduleReconnect(s);
      });
    }, s.backoff.next());
  }

  return {
    name: config.name,
    kind: 'etcd',

    async watch({ sink, resumeRevision }: WatchOptions): Promise<void> {
      if (active(session)) throw new LockscopeError('BAD_REQUEST', `etcd source "${config.name}" is already watching`);
      if (resumeRevision != null && !/^\d+$/.test(resumeRevision)) {
        throw new LockscopeError('BAD_REQUEST', `resume revision "${resumeRevision}" is not an etcd revision (digits only)`);
      }
      const s: Session = {
        sink,
        controller: new AbortController(),
        resumeRevision: resumeRevision != null ? BigInt(resumeRevision) : null,
        synced: false,
        needsResync: false,
        prefixes: prefixes.map((prefix) => ({ prefix, rangeEnd: prefixRangeEnd(prefix), delivered: 0n })),
        replayUntil: 0n,
        lastProgress: 0n,
        stream: null,
        onCreated: null,
        timer: null,
        backoff: new Backoff(RECONNECT_BACKOFF),
        queue: Promise.resolve(),
      };
      session = s;
      s.controller.signal.addEventListener('abort', () => {
        if (s.timer) clearTimeout(s.timer);
        s.timer = null;
        s.stream?.close();
        s.onCreated?.();
      });
      const created = new Promise<void>((resolve) => (s.onCreated = resolve));
      try {
        await enqueue(s, async () => {
          await initialSync(s);
          await openStream(s);
        });
      } catch (error) {
        const mapped = toSourceError(config, 'the first sync', error);
        setHealth({ connected: false, lastError: mapped.message });
        // Keep trying in the background; health() says when it is back.
        scheduleReconnect(s);
        throw mapped;
      }
      // A stream that neither answers nor fails must not hang start-up; health shows the state.
      await waitAtMost(created, CREATED_DEADLINE_MS);
      s.onCreated = null;
    },

    async list(): Promise<LiveLock[]> {
      return liveLocks(ctx, await snapshot(ctx));
    },

    async get(name: string): Promise<LiveLock | null> {
      const group = await findGroup(ctx, name);
      if (!group) return null;
      const [lock] = await liveLocks(ctx, [group]);
      return lock ?? null;
    },

    release(request: ReleaseRequest): Promise<ReleaseResult> {
      return releaseLock(ctx, config.prefixes, request);
    },

    async checkLease(key: Uint8Array, holdId: string): Promise<LeaseCheck> {
      const parsed = parseHoldId(holdId);
      if (!parsed) throw new LockscopeError('BAD_REQUEST', `"${holdId}" is not an etcd hold id (<owner key hex>@<create_revision>)`);
      const ownerKey = parsed.ownerKey ?? Buffer.from(key);
      const { entries } = await readRange(ctx, ownerKey, null, null);
      const owner = entries[0];
      if (!owner || owner.createRevision !== parsed.createRevision) return { exists: false, remainingMs: null, ttlMs: null };
      if (owner.lease === 0n) return { exists: true, remainingMs: null, ttlMs: null };
      const lookup = await leases.lookup(owner.lease);
      if (active(session)) reconciler.noteLeaseCheck(holdId, lookup);
      return { exists: !lookup.gone, remainingMs: lookup.remainingMs, ttlMs: lookup.grantedMs };
    },

    async probe(): Promise<SourceHealth> {
      try {
        const status = await client().call('a status probe', (cl) => cl.maintenance.status());
        seen();
        setHealth({ version: status.version, ...(active(session) ? {} : { lastError: null }) });
        return { ...health, connected: active(session) ? health.connected : true };
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
        s.controller.abort();
        await waitAtMost(s.queue, STOP_DEADLINE_MS);
      }
      etcd?.close();
      etcd = null;
      health.connected = false;
    },
  };
}
