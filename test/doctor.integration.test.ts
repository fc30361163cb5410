// `lockctl doctor` (the real binary) over what a real collector recorded: a deadlock between
// two etcd sessions (each holding one mutex and waiting for the other's), found within 2 s
// and ended when one gives up; and a redis-py lock at its default (no TTL).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLockctl } from '../apps/cli/src/run-lockctl.js';
import { startEtcd, startRedis, waitFor, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { startCollectorStack, type CollectorStack } from '../apps/collector/src/test-stack.js';

const root = resolve(import.meta.dirname, '..');

/** The real lockctl binary, without the caller's LOCKSCOPE_CONFIG. */
const run = (args: string[]) => runLockctl(args, { env: { ...process.env, LOCKSCOPE_CONFIG: '', LOCKSCOPE_ACTOR: 'oncall-ana' } });

/**
 * One etcd session (a lease) taking mutexes the way Go's concurrency.Mutex and `etcdctl
 * lock` do: a key `<prefix>/<lease hex>` under the session's lease; the lowest create
 * revision holds. Go's etcdctl cannot hold two locks in one session, so this small program
 * drives npm etcd3 through that layout. Commands on stdin: `lock <prefix>`, `unlock <prefix>`.
 */
function session(endpoints: string[]): { child: ChildProcessWithoutNullStreams; output: () => string; say(line: string): void } {
  const script = `
    import { Etcd3 } from 'etcd3';
    import { createInterface } from 'node:readline';
    const client = new Etcd3({ hosts: ${JSON.stringify(endpoints)} });
    const lease = client.lease(30);
    const hex = BigInt(await lease.grant()).toString(16);
    console.log('session ' + hex);
    createInterface({ input: process.stdin }).on('line', async (line) => {
      const [verb, prefix] = line.trim().split(' ');
      const key = prefix + '/' + hex;
      if (verb === 'lock') {
        await lease.put(key).value('');
        for (;;) {
          const kvs = (await client.getAll().prefix(prefix + '/').sort('Create', 'Ascend').exec()).kvs;
          if (kvs[0] && kvs[0].key.toString() === key) { console.log('holding ' + prefix); return; }
          console.log('waiting ' + prefix);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      if (verb === 'unlock') { await client.delete().key(key); console.log('gave up ' + prefix); }
    });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out, say: (line) => child.stdin.write(`${line}\n`) };
}

describe('lockctl doctor', () => {
  let etcd: EtcdServer;
  let redis: RedisServer;
  let stack: CollectorStack;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    if (!existsSync(resolve(root, 'apps/cli/dist/index.js'))) throw new Error('lockctl is not built: run `npm run build` (npm test builds first)');
    dir = mkdtempSync(join(tmpdir(), 'lockscope-doctor-'));
    [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
    const storeUrl = `file:${join(dir, 'store.db')}`;
    stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints }, redis: { url: redis.url }, storeUrl });
    config = join(dir, 'lockscope.yaml');
    writeFileSync(config, `store: { url: ${JSON.stringify(storeUrl)} }\n`);
  });

  afterAll(async () => {
    await stack?.dispose();
    await Promise.all([etcd?.stop(), redis?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('with nothing recorded: no hazards, exit 0', async () => {
    const r = await run(['doctor', '--config', config]);
    expect(r.stdout).toContain('No hazards found');
    expect(r.code).toBe(0);
  });

  it('two etcd sessions in a deadlock: found within 2 s, ended when one gives up; a redis-py lock without TTL; doctor exits 1', async () => {
    const s1 = session(etcd.endpoints);
    const s2 = session(etcd.endpoints);
    try {
      s1.say('lock /locks/ledger');
      await waitFor(() => s1.output().includes('holding /locks/ledger'), { message: 's1 holding the ledger' });
      s2.say('lock /locks/stock');
      await waitFor(() => s2.output().includes('holding /locks/stock'), { message: 's2 holding the stock' });
      s1.say('lock /locks/stock');
      s2.say('lock /locks/ledger');
      await waitFor(() => s1.output().includes('waiting /locks/stock') && s2.output().includes('waiting /locks/ledger'), { message: 'both waiting' });
      const waitingSince = Date.now();
      const deadlock = await waitFor(async () => {
        await stack.collector.flushNow();
        return (await stack.store.prisma.hazard.findMany({ where: { kind: 'deadlock' } })).at(0);
      }, { timeoutMs: 2_000, intervalMs: 50, message: 'the deadlock within 2 s' });
      expect(Date.now() - waitingSince).toBeLessThan(2_000);
      expect(deadlock).toMatchObject({ severity: 'critical', until: null });
      const holders = JSON.parse(deadlock.holders) as string[];
      expect(holders.sort()).toEqual([/session (\w+)/.exec(s1.output())![1], /session (\w+)/.exec(s2.output())![1]].sort());

      // redis-py's Lock at its default has no TTL.
      const py = spawn('/usr/bin/python3', ['-c', `import redis; redis.Redis.from_url(${JSON.stringify(redis.url)}).lock('lock:nightly-report').acquire()`]);
      await new Promise((r) => py.once('close', r));
      await waitFor(async () => (await stack.lock('redis-test', 'lock:nightly-report'))?.held, { message: 'the redis-py lock' });

      const r = await run(['doctor', '--json', '--config', config]);
      expect(r.code).toBe(1);
      const findings = JSON.parse(r.stdout) as Array<{ kind: string; severity: string; lock: string; until: number | null; docs: string; foundBy: string }>;
      expect(findings[0]).toMatchObject({ kind: 'deadlock', severity: 'critical', until: null, foundBy: 'collector', docs: 'docs/hazards.md#deadlock' });
      expect(findings.find((f) => f.kind === 'no_ttl')).toMatchObject({ lock: 'lock:nightly-report', severity: 'warning', foundBy: 'history' });
      // The same hazards as a table for a person, with where to read about them.
      const table = await run(['doctor', '--config', config]);
      expect(table.stdout).toMatch(/critical\s+deadlock\s+etcd-test/);
      expect(table.stdout).toContain('docs/hazards.md');
      expect(table.stderr).toContain('at or above critical');
      // Only warnings and below, judged against --fail-on critical, for the Redis source alone.
      expect((await run(['doctor', '--source', 'redis-test', '--config', config])).code).toBe(0);

      // s2 gives up waiting for the ledger: the cycle is broken.
      s2.say('unlock /locks/ledger');
      await waitFor(async () => {
        await stack.collector.flushNow();
        return (await stack.store.prisma.hazard.findFirst({ where: { kind: 'deadlock' } }))?.until !== null;
      }, { message: 'the deadlock ended' });
    } finally {
      s1.child.kill('SIGKILL');
      s2.child.kill('SIGKILL');
    }
  });
});
