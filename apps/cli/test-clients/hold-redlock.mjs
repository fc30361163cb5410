// Holds a lock with npm `redlock` (v5) against one Redis and waits to be killed.
// usage: node hold-redlock.mjs <redis url> <resource> <ttl ms> <acquire|using>
//   acquire: acquire() once, never extended; using: using() with its default automatic extension.
// Prints one JSON line {"acquired": <wall ms>} once it holds the lock.
import Redis from 'ioredis';
import Redlock from 'redlock';

const [url, resource, ttl, mode] = process.argv.slice(2);
const client = new Redis(url);
const redlock = new Redlock([client], { retryCount: 0 });
redlock.on('error', () => {});
const hold = () => new Promise(() => {});
if (mode === 'using') {
  await redlock.using([resource], Number(ttl), async () => {
    console.log(JSON.stringify({ acquired: Date.now() }));
    await hold();
  });
} else {
  await redlock.acquire([resource], Number(ttl));
  console.log(JSON.stringify({ acquired: Date.now() }));
  await hold();
}
