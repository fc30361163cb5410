// Bundle entry dist/backend-sources.js: the source adapters with their client
// libraries (etcd3 with gRPC, ioredis). Loaded by load-backends.ts on first use.
export { createEtcdSource, createRedisSource, findLockByName } from '@lockscope/sources';
