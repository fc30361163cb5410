// Second bundle entry (dist/backends.js): everything that loads a backend
// client library (etcd3 with gRPC, ioredis, Prisma with its drivers). Loaded by
// load-backends.ts only when a command talks to a backend.
export { createEtcdSource, createRedisSource } from '@lockscope/sources';
export { openStore } from '@lockscope/store';
