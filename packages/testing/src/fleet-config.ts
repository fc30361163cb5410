import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FleetConfigOptions {
  /** Directory for the config file and the SQLite store. */
  dir: string;
  etcdEndpoints: string[];
  redisUrl: string;
  /** host:port for the collector's /healthz and /metrics. */
  listen: string;
}

/**
 * Writes the lockscope.yaml the fleet tests run the collector and dashboard
 * with: a SQLite store in `dir`, one etcd source on /locks/ and one Redis source
 * on lock:*, as the simulator's demo profile uses them. Returns its path.
 */
export function writeFleetConfig({ dir, etcdEndpoints, redisUrl, listen }: FleetConfigOptions): string {
  const path = join(dir, 'lockscope.yaml');
  writeFileSync(
    path,
    [
      `store: { url: ${JSON.stringify(`file:${join(dir, 'lockscope.db')}`)} }`,
      'sources:',
      `  - { name: etcd-sim, kind: etcd, endpoints: ${JSON.stringify(etcdEndpoints)}, prefixes: ["/locks/"] }`,
      `  - { name: redis-sim, kind: redis, url: ${JSON.stringify(redisUrl)}, patterns: ["lock:*"] }`,
      `collector: { listen: ${JSON.stringify(listen)}, flushInterval: 100ms }`,
      '',
    ].join('\n'),
  );
  return path;
}
