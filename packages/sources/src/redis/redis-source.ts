import type { Redis } from 'ioredis';
import { LockscopeError, isLockscopeError, type LiveLock, type LockObservation, type RedisSourceConfig } from '@lockscope/core';
import type { LeaseCheck, LockSource, ObservationSink, ReleaseRequest, ReleaseResult, SourceHealth, WatchOptions } from '../source.js';
import { closeClient, createRedisClient, redactRedisUrl, redisDbFromUrl, whenReady } from './redis-client.js';
import { keyCandidates, recogniseLock } from './redis-dialect.js';
import { defineFetchCommand, fetchStates, scanLocks } from './redis-fetch.js';
import { ensureNotifications, missingNotifyFlags, readNotifyFlags, type NotificationContext } from './redis-notifications.js';
import { RedisReconciler, type PendingKey } from './redis-reconciler.js';
import { readLease, releaseLock } from './redis-release.js';

export { SUGGESTED_NOTIFY_FLAGS } from './redis-notifications.js';
export { UNREAD_HOLDER } from './redis-reconciler.js';

export interface RedisSourceOptions {
  /** Wall clock (ms); tests pass their own. */
  now?: () => number;
  /** How long one-shot calls wait for a connection before SOURCE_UNREACHABLE. */
  connectTimeoutMs?: number;
  /**
   * How often a watching source checks that notify-keyspace-events still has
   * what it needs (someone may switch it off at run time). Default 5 s.
   */
  notificationCheckMs?: number;
}

const MAX_FETCHES_IN_FLIGHT = 2;
const NOTIFICATION_CHECK_MS = 5_000;

/** One watch: everything it started ends when `controller` aborts (stop, or a failed first sync). */
interface WatchSession {
  sink: ObservationSink;
  controller: AbortController;
}

export function createRedisSource(config: RedisSourceConfig, options: RedisSourceOptions = {}): LockSource {
  return new RedisLockSource(config, options);
}

/**
 * The Redis adapter: two connections (commands, notifications), reconnects and
 * resyncs, and the LockSource calls. What a notification or a read means for a
 * lock is the reconciler's (redis-reconciler.ts); reads are redis-fetch.ts,
 * notification settings redis-notifications.ts, release redis-release.ts.
 */
class RedisLockSource implements LockSource {
  readonly kind = 'redis' as const;
  readonly name: string;
  private readonly config: RedisSourceConfig;
  private readonly now: () => number;
  private readonly connectTimeoutMs: number;
  private readonly notificationCheckMs: number;
  private readonly safeUrl: string;
  private readonly channelPrefix: string;
  private readonly reconciler: RedisReconciler;
  private readonly notificationContext: NotificationContext;
  private cmd: Redis | null = null;
  private sub: Redis | null = null;
  private session: WatchSession | null = null;
  private stopped = false;
  private flushTimer: NodeJS.Immediate | null = null;
  private fetchesInFlight = 0;
  private resyncRunning: Promise<void> | null = null;
  private resyncAgain = false;
  private probeListener: ((channel: Buffer, message: Buffer) => void) | null = null;
  private readonly state: SourceHealth;

  constructor(config: RedisSourceConfig, options: RedisSourceOptions) {
    this.config = config;
    this.name = config.name;
    this.now = options.now ?? Date.now;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.notificationCheckMs = options.notificationCheckMs ?? NOTIFICATION_CHECK_MS;
    this.safeUrl = redactRedisUrl(config.url);
    this.channelPrefix = `__keyspace@${redisDbFromUrl(config.url)}__:`;
    this.reconciler = new RedisReconciler({ source: config.name, patterns: config.patterns.map((p) => Buffer.from(p, 'utf8')) });
    this.notificationContext = {
      name: config.name,
      safeUrl: this.safeUrl,
      channelPrefix: this.channelPrefix,
      enableNotifications: config.enableNotifications,
      setProbeListener: (listener) => (this.probeListener = listener),
    };
    this.state = {
      name: config.name,
      kind: 'redis',
      connected: false,
      lastError: null,
      lastEventAt: null,
      lastSeenAt: null,
      version: null,
      notifications: null,
    };
  }

  health(): SourceHealth {
    return { ...this.state };
  }

  // ---------------------------------------------------------------- connections

  private command(): Redis {
    if (this.cmd === null) {
      this.cmd = createRedisClient(this.config.url, {
        connectionName: `lockscope:${this.name}`,
        connectTimeoutMs: this.connectTimeoutMs,
        onError: (error) => this.recordError(this.unreachableMessage(error)),
      });
      defineFetchCommand(this.cmd);
    }
    return this.cmd;
  }

  private subscriber(): Redis {
    if (this.sub === null) {
      const sub = createRedisClient(this.config.url, {
        connectionName: `lockscope:${this.name}:notifications`,
        connectTimeoutMs: this.connectTimeoutMs,
        onError: (error) => this.recordError(this.unreachableMessage(error)),
      });
      const prefixLength = Buffer.byteLength(this.channelPrefix, 'latin1');
      sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => this.onKeyspaceEvent(channel, prefixLength, message));
      sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.probeListener?.(channel, message));
      this.sub = sub;
    }
    return this.sub;
  }

  /** Waits until `client` is ready, connecting it if needed; SOURCE_UNREACHABLE otherwise. */
  private async ready(client: Redis): Promise<Redis> {
    try {
      await whenReady(client, this.connectTimeoutMs);
    } catch (error) {
      if (client.status === 'end') {
        // A first connect that failed is not retried in the background: the next call starts afresh.
        if (this.cmd === client) this.cmd = null;
        if (this.sub === client) this.sub = null;
      }
      throw this.unreachable(error);
    }
    this.state.lastSeenAt = this.now();
    return client;
  }

  private unreachableMessage(error: unknown): string {
    const why = error instanceof Error ? error.message : String(error);
    return `Cannot reach Redis at ${this.safeUrl} (${why}); check that the server runs and that sources[].url for "${this.name}" is right.`;
  }

  private unreachable(error: unknown): LockscopeError {
    if (isLockscopeError(error)) return error;
    const message = this.unreachableMessage(error);
    this.recordError(message);
    return new LockscopeError('SOURCE_UNREACHABLE', message, { cause: error, details: { source: this.name, url: this.safeUrl } });
  }

  /** Maps a failed call: connection trouble is SOURCE_UNREACHABLE, a refusal by the server is SOURCE_MISCONFIGURED. */
  private failure(error: unknown, what: string): LockscopeError {
    if (isLockscopeError(error)) return error;
    if (error instanceof Error && error.name === 'ReplyError') {
      const message = `Redis at ${this.safeUrl} refused ${what}: ${error.message}. Check the ACL of the user in sources[].url for "${this.name}".`;
      this.recordError(message);
      return new LockscopeError('SOURCE_MISCONFIGURED', message, { cause: error, details: { source: this.name, url: this.safeUrl } });
    }
    return this.unreachable(error);
  }

  private recordError(message: string): void {
    this.state.lastError = message;
    this.pushHealth();
  }

  private pushHealth(): void {
    this.session?.sink.health?.(this.health());
  }

  private active(session: WatchSession | null = this.session): session is WatchSession {
    return session !== null && !session.controller.signal.aborted;
  }

  // ---------------------------------------------------------------- watch

  async watch({ sink }: WatchOptions): Promise<void> {
    if (this.active()) throw new LockscopeError('BAD_REQUEST', `Redis source "${this.name}" is already being watched.`);
    if (this.stopped) throw new LockscopeError('BAD_REQUEST', `Redis source "${this.name}" was stopped; create a new one.`);
    const session: WatchSession = { sink, controller: new AbortController() };
    this.session = session;
    const cmd = this.command();
    const sub = this.subscriber();
    try {
      await this.ready(cmd);
      await this.ready(sub);
      await this.connectedSync();
    } catch (error) {
      await this.stop();
      throw error;
    }
    const { signal } = session.controller;
    // Registered after the first sync so that only reconnects resync from here.
    const onReady = () => void this.requestResync();
    const onClose = () => {
      if (!this.active(session) || !this.state.connected) return;
      this.state.connected = false;
      this.pushHealth();
    };
    for (const client of [sub, cmd]) {
      client.on('ready', onReady);
      client.on('close', onClose);
    }
    const check = setInterval(() => void this.checkNotifications(), this.notificationCheckMs);
    check.unref();
    signal.addEventListener('abort', () => {
      clearInterval(check);
      for (const client of [sub, cmd]) {
        client.off('ready', onReady);
        client.off('close', onClose);
      }
    });
  }

  /** Everything a (re)connect needs, in order: notifications on, subscribed, then a full resync. */
  private async connectedSync(): Promise<void> {
    const cmd = this.command();
    const sub = this.subscriber();
    await this.readVersion(cmd);
    try {
      const notifications = await ensureNotifications(cmd, sub, this.notificationContext);
      // A second resync of the same reconnect (both clients emit 'ready') finds them on: still ours.
      if (!(notifications === 'on' && this.state.notifications === 'enabled-by-lockscope')) this.state.notifications = notifications;
    } catch (error) {
      if (isLockscopeError(error) && error.code === 'SOURCE_MISCONFIGURED') {
        this.state.notifications = 'off';
        this.recordError(error.message);
      }
      throw error;
    }
    // Re-issuing PSUBSCRIBE is idempotent; awaiting it guarantees the scan starts after it took effect.
    await sub.psubscribe(...this.channelPatterns());
    await this.resync();
    this.state.connected = true;
    this.state.lastError = null;
    this.pushHealth();
  }

  private channelPatterns(): string[] {
    return [...this.config.patterns, 'redisson_lock_queue:{*}', 'redisson_lock_timeout:{*}'].map((p) => `${this.channelPrefix}${p}`);
  }

  /** A reconnect (or notifications back on): one resync at a time, and one more if asked meanwhile. */
  private async requestResync(): Promise<void> {
    if (!this.active()) return;
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return;
    }
    this.resyncRunning = (async () => {
      do {
        this.resyncAgain = false;
        try {
          await this.ready(this.command());
          await this.ready(this.subscriber());
          await this.connectedSync();
        } catch (error) {
          if (!this.active()) return;
          this.state.connected = false;
          this.recordError(this.failure(error, 'the resync').message);
          // A client that comes back emits 'ready' again, and the notification check retries a
          // misconfiguration: either brings us back here.
        }
      } while (this.resyncAgain && this.active());
    })();
    try {
      await this.resyncRunning;
    } finally {
      this.resyncRunning = null;
    }
  }

  /**
   * Someone may switch keyspace notifications off at run time (CONFIG SET
   * notify-keyspace-events ""): from then on every change is missed silently.
   * A cheap CONFIG GET every few seconds notices; the source turns unhealthy
   * with a message saying so, and a resync (which re-enables them when allowed)
   * reconciles what changed meanwhile. Where CONFIG is renamed away this cannot
   * be checked, and the check does nothing.
   */
  private async checkNotifications(): Promise<void> {
    if (!this.active() || this.resyncRunning || this.cmd?.status !== 'ready') return;
    const current = await readNotifyFlags(this.cmd);
    if (current === null || !this.active() || this.resyncRunning) return;
    const missing = missingNotifyFlags(current);
    if (missing.length === 0) {
      // Switched back on by someone else while we could not: resync the gap.
      if (this.state.notifications === 'off') await this.requestResync();
      return;
    }
    // Already reported, and not ours to fix: wait for someone to restore it (the branch above).
    if (this.state.notifications === 'off' && !this.config.enableNotifications) return;
    this.state.notifications = 'off';
    this.state.connected = false;
    this.recordError(
      `Keyspace notifications on Redis source "${this.name}" (${this.safeUrl}) were switched off while watching ` +
        `(notify-keyspace-events is now "${current}", missing ${missing.join(' ')}): lock changes are not seen until they are back` +
        (this.config.enableNotifications ? '; re-enabling them and resyncing.' : '; set enableNotifications: true or restore the setting.'),
    );
    await this.requestResync();
  }

  private async readVersion(cmd: Redis): Promise<void> {
    try {
      const info = await cmd.info('server');
      this.state.version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? null;
    } catch {
      this.state.version = null;
    }
  }

  // ---------------------------------------------------------------- notifications

  private onKeyspaceEvent(channel: Buffer, prefixLength: number, message: Buffer): void {
    if (!this.active() || channel.length <= prefixLength) return;
    const at = this.now();
    this.state.lastEventAt = at;
    this.state.lastSeenAt = at;
    if (this.reconciler.noteEvent(channel.subarray(prefixLength), message.toString('latin1'), at, performance.now())) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null || !this.active()) return;
    this.flushTimer = setImmediate(() => {
      this.flushTimer = null;
      void this.flush();
    });
  }

  /**
   * Reads every pending key in one script call; a key already being read waits for the
   * next round. At most MAX_FETCHES_IN_FLIGHT calls are out at once: under load the keys that
   * arrive meanwhile go together in the next call (one command and one write instead of one
   * per event-loop turn), and an idle source still reads a change at once.
   */
  private async flush(): Promise<void> {
    const { fetch, observations } = this.reconciler.takeBatch(this.fetchesInFlight < MAX_FETCHES_IN_FLIGHT, performance.now(), this.now());
    this.deliver(observations);
    if (fetch.length === 0) return;
    this.fetchesInFlight += 1;
    let batch: PendingKey[] | null = fetch;
    try {
      const states = await fetchStates(this.command(), fetch.map((p) => p.key));
      const doneMono = performance.now();
      this.state.lastSeenAt = this.now();
      batch = null;
      this.deliver(this.reconciler.applyFetched(fetch, states, doneMono, this.now()));
    } catch (error) {
      // Lost until the resync that follows the reconnect.
      if (batch) this.reconciler.fetchFailed(batch);
      if (this.active()) this.recordError(this.failure(error, 'a lock fetch').message);
    } finally {
      this.fetchesInFlight -= 1;
      if (this.reconciler.hasPending()) this.scheduleFlush();
    }
  }

  private deliver(observations: LockObservation[]): void {
    const sink = this.session?.sink;
    if (!sink || !this.active()) return;
    for (const observation of observations) {
      try {
        sink.observe(observation);
      } catch (error) {
        this.recordError(`The observation sink of "${this.name}" threw: ${error instanceof Error ? error.message : String(error)}.`);
      }
    }
  }

  /** Full resync: every lock under the patterns is observed again and the sink learns which exist. */
  private async resync(): Promise<void> {
    const at = this.now();
    this.reconciler.beginResync();
    try {
      await scanLocks(this.command(), this.config.patterns, (key) => this.reconciler.matchesPatterns(key), (fetched) =>
        this.deliver(this.reconciler.resyncBatch(fetched, at)),
      );
    } catch (error) {
      this.reconciler.abortResync();
      throw error;
    }
    const live = this.reconciler.endResync();
    this.state.lastSeenAt = this.now();
    if (this.active()) this.session?.sink.resynced?.(this.name, live, at);
  }

  // ---------------------------------------------------------------- one-shot calls

  async list(): Promise<LiveLock[]> {
    const client = await this.ready(this.command());
    const out: LiveLock[] = [];
    const at = this.now();
    try {
      await scanLocks(client, this.config.patterns, (key) => this.reconciler.matchesPatterns(key), (fetched) => {
        for (const { key, lock } of fetched) out.push(this.reconciler.liveLock(key, lock, at));
      });
    } catch (error) {
      throw this.failure(error, 'the lock listing');
    }
    return out;
  }

  async get(name: string): Promise<LiveLock | null> {
    const client = await this.ready(this.command());
    const candidates = keyCandidates(name).filter((key) => this.reconciler.matchesPatterns(key));
    if (candidates.length === 0) return null;
    let states;
    try {
      states = await fetchStates(client, candidates);
    } catch (error) {
      throw this.failure(error, `reading "${name}"`);
    }
    for (const state of states) {
      const lock = recogniseLock(state);
      if (lock) return this.reconciler.liveLock(state.key, lock, this.now());
    }
    return null;
  }

  async checkLease(key: Uint8Array, holdId: string): Promise<LeaseCheck> {
    const client = await this.ready(this.command());
    let lease;
    try {
      lease = await readLease(client, key, holdId);
    } catch (error) {
      throw this.failure(error, 'a lease check');
    }
    return {
      exists: lease.exists,
      remainingMs: lease.exists && lease.pttl >= 0 ? lease.pttl : null,
      // The grant is known only when this source saw it; a remaining TTL is not a grant.
      ttlMs: lease.exists ? this.reconciler.grantedTtl(key, holdId) : null,
    };
  }

  async release(request: ReleaseRequest): Promise<ReleaseResult> {
    const client = await this.ready(this.command());
    const lock = await this.get(request.name);
    return releaseLock(client, request, {
      source: this.name,
      lock,
      known: keyCandidates(request.name).some((k) => this.reconciler.knows(k)),
      where: `(${this.safeUrl}) under patterns ${this.config.patterns.join(', ')}`,
      failure: (error, what) => this.failure(error, what),
    });
  }

  async probe(): Promise<SourceHealth> {
    const watching = this.active();
    try {
      const client = await this.ready(this.command());
      await this.readVersion(client);
      if (this.state.notifications !== 'enabled-by-lockscope') {
        const current = await readNotifyFlags(client);
        this.state.notifications = current === null ? null : missingNotifyFlags(current).length === 0 ? 'on' : 'off';
      }
      this.state.lastSeenAt = this.now();
      if (!watching) {
        this.state.connected = true;
        this.state.lastError = null;
      }
    } catch (error) {
      this.state.connected = false;
      this.state.lastError = this.failure(error, 'the probe').message;
    }
    return this.health();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.session?.controller.abort();
    if (this.flushTimer !== null) {
      clearImmediate(this.flushTimer);
      this.flushTimer = null;
    }
    this.reconciler.clearPending();
    const clients = [this.sub, this.cmd].filter((c): c is Redis => c !== null);
    this.sub = null;
    this.cmd = null;
    await Promise.all(clients.map((client) => closeClient(client)));
    this.state.connected = false;
    this.session = null;
  }
}
