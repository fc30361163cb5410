export { freePort } from './ports.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { requireBinary } from './binaries.js';
export { startChild, type Child } from './child.js';
export { startEtcd, type EtcdServer, type EtcdMember, type StartEtcdOptions } from './etcd.js';
export { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';
export { createTestDatabase, testPostgresAdminUrl, type TestDatabase } from './postgres.js';
export { launchChromium, withPage } from './browser.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
