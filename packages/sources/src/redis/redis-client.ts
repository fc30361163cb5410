import { Redis, type RedisOptions } from 'ioredis';
import { Backoff } from '../backoff.js';
import { withDeadline } from '../deadline.js';

export interface RedisClientOptions {
  /** Shown in CLIENT LIST, so operators can tell Lockscope's connections apart. */
  connectionName: string;
  onError: (error: Error) => void;
  connectTimeoutMs?: number;
}

/**
 * The one way Lockscope makes a Redis client. It never connects on
 * construction (lazyConnect), always has an 'error' handler (an unhandled
 * 'error' event would crash the process) and retries forever with the shared
 * backoff policy: a source outlives outages.
 * RESP2 keeps reply shapes identical on every server version we meet.
 */
export function createRedisClient(url: string, options: RedisClientOptions): Redis {
  const backoff = new Backoff();
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    protocol: 2,
    connectionName: options.connectionName,
    // ioredis counts attempts from 1 after each successful connection.
    retryStrategy: (times) => {
      if (times <= 1) backoff.reset();
      return backoff.next();
    },
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    // Commands fail after a few reconnect attempts instead of piling up while the server is away.
    maxRetriesPerRequest: 3,
    disableClientInfo: true,
  };
  const client = new Redis(url, redisOptions);
  client.on('error', options.onError);
  return client;
}

/**
 * Waits until `client` is ready, connecting it first when it never was (or was
 * given up). Rejects after `timeoutMs`; a first connect that fails is dropped,
 * not retried in the background, so the next call starts afresh.
 */
export async function whenReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait' || client.status === 'end') {
    try {
      await withDeadline(client.connect(), timeoutMs + 1_000, `no connection within ${timeoutMs} ms`);
    } catch (error) {
      client.disconnect();
      throw error;
    }
    return;
  }
  let onReady: () => void = () => undefined;
  let onEnd: () => void = () => undefined;
  try {
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        onReady = resolve;
        // 'end' means the connection attempt was given up (e.g. a concurrent first connect failed).
        onEnd = () => reject(new Error('the connection was closed'));
        client.once('ready', onReady);
        client.once('end', onEnd);
      }),
      timeoutMs,
      `no connection within ${timeoutMs} ms`,
    );
  } finally {
    client.off('ready', onReady);
    client.off('end', onEnd);
  }
}

/** Disconnects and waits (at most 2 s) for the socket to close. */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end' || client.status === 'wait') {
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  client.disconnect();
  await withDeadline(ended, 2_000).catch(() => undefined);
}

/** The URL without its password, safe for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** Database number from `redis://host:port/<db>` (0 when absent). */
export function redisDbFromUrl(url: string): number {
  try {
    const path = new URL(url).pathname.replace(/^\//, '');
    const db = path === '' ? 0 : Number(path);
    return Number.isInteger(db) && db >= 0 ? db : 0;
  } catch {
    return 0;
  }
}
