import { fileURLToPath } from 'node:url';
import { startChild, type Child } from './child.js';

/** The repository root, where node resolves the `etcd3` package the holder imports. */
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * A real npm etcd3 Lock holder in its own process, so a test can freeze its
 * keepalives with SIGSTOP or crash it with SIGKILL. Prints `acquired <lease id>`
 * once it holds the lock; on SIGTERM it releases the lock and exits.
 */
export function holdEtcd3Lock(endpoints: string[], key: string, ttlSeconds: number): Child {
  const script = `
    import { Etcd3 } from 'etcd3';
    const client = new Etcd3({ hosts: ${JSON.stringify(endpoints)} });
    const lock = client.lock(${JSON.stringify(key)}).ttl(${ttlSeconds});
    await lock.acquire();
    console.log('acquired ' + (await lock.leaseId()));
    process.on('SIGTERM', async () => { await lock.release(); client.close(); process.exit(0); });
    setInterval(() => {}, 1000);
  `;
  return startChild(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot });
}
