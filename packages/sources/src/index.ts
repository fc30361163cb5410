export * from './source.js';
export { findLockByName, type FoundLock } from './find-lock-by-name.js';
export { createRedisSource, SUGGESTED_NOTIFY_FLAGS, type RedisSourceOptions } from './redis/redis-source.js';
export { createRedisClient, redactRedisUrl } from './redis/redis-client.js';
export { createEtcdSource, type EtcdSourceOptions } from './etcd/etcd-source.js';
export { createEtcdClient, type EtcdClient } from './etcd/etcd-client.js';
