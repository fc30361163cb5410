// Holds a redis-semaphore Mutex (key `mutex:<name>`) at its defaults and waits to be killed.
// usage: node hold-redis-semaphore.mjs <redis url> <name> <lockTimeout ms>
// The Mutex refreshes by itself every 0.8 x lockTimeout (the library's default).
// Prints one JSON line {"acquired": <wall ms>} once it holds the lock.
import Redis from 'ioredis';
import { Mutex } from 'redis-semaphore';

const [url, name, ttl] = process.argv.slice(2);
const client = new Redis(url);
const mutex = new Mutex(client, name, { lockTimeout: Number(ttl), onLockLost: () => {} });
await mutex.acquire();
console.log(JSON.stringify({ acquired: Date.now() }));
setInterval(() => {}, 60_000);
