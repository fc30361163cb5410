import { Redis, type RedisOptions } from 'ioredis';

export interface RedisClientOptions {
  /** Shown in CLIENT LIST, so operators can tell Lockscope's connections apart. */
  connectionName: string;
  onError: (error: Error) => void;
  connectTimeoutMs?: number;
}

/** Exponential backoff from 100 ms to 5 s with jitter, retrying forever: a source outlives outages. */
export function lockscopeRetryStrategy(times: number): number {
  const base = Math.min(100 * 2 ** Math.min(times - 1, 6), 5_000);
  return base + Math.floor(Math.random() * 100);
}

/**
 * The one way Lockscope makes a Redis client. It never connects on
 * construction (lazyConnect), always has an 'error' handler (an unhandled
 * 'error' event would crash the process) and retries with backoff.
 * RESP2 keeps reply shapes identical on every server version we meet.
 */
export function createRedisClient(url: string, options: RedisClientOptions): Redis {
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    protocol: 2,
    connectionName: options.connectionName,
    retryStrategy: lockscopeRetryStrategy,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    // Commands fail after a few reconnect attempts instead of piling up while the server is away.
    maxRetriesPerRequest: 3,
    disableClientInfo: true,
  };
  const client = new Redis(url, redisOptions);
  client.on('error', options.onError);
  return client;
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
