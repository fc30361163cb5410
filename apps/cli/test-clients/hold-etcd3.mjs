// Holds an npm `etcd3` Lock (one key under a lease, kept alive every TTL/3) and waits to be killed.
// usage: node hold-etcd3.mjs <etcd endpoint> <key> <ttl seconds>
// Prints one JSON line {"acquired": <wall ms>} once it holds the lock.
import { Etcd3 } from 'etcd3';

const [endpoint, key, ttl] = process.argv.slice(2);
const client = new Etcd3({ hosts: endpoint });
await client.lock(key).ttl(Number(ttl)).acquire();
console.log(JSON.stringify({ acquired: Date.now() }));
setInterval(() => {}, 60_000);
