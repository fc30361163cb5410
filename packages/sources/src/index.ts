export * from './source.js';
export { createRedisSource, type RedisSourceOptions } from './redis/redis-source.js';
export { createRedisClient, redactRedisUrl } from './redis/redis-client.js';
