import type { SourceConfig } from '@lockscope/core';
import { createEtcdSource, createRedisSource, type LockSource } from '@lockscope/sources';

/** The one factory for backend sources, used by the agent and its tests. */
export function createSource(config: SourceConfig): LockSource {
  return config.kind === 'etcd' ? createEtcdSource(config) : createRedisSource(config);
}
