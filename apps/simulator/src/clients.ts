import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';

/**
 * The one place the simulator makes backend clients: short deadlines so a
 * stopped backend shows up as a retried error rather than a hang, and an
 * error handler always attached (an unhandled ioredis 'error' would crash).
 */
export function createSimEtcd(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 3_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5_000 }),
  });
}

export function createSimRedis(url: string, name: string, onError: (error: Error) => void): Redis {
  const client = new Redis(url, {
    connectionName: name,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 3_000),
    disableClientInfo: true,
  });
  client.on('error', onError);
  return client;
}
