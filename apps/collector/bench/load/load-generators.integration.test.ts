import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, startEtcd, startRedis, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { GrpcH2Connection } from './grpc-h2.js';

// The benchmark's load generators speak the backends' protocols themselves; these
// tests hold them to doing exactly the lock traffic the benchmark reports.
const here = new URL('.', import.meta.url).pathname;

async function run(script: string, args: string[]): Promise<{ sent: number; ok: number; busy: number }> {
  const child = startChild(process.execPath, ['--import', 'tsx', `${here}${script}`, ...args]);
  const code = await child.exited;
  expect(code, child.output()).toBe(0);
  return JSON.parse(child.output().trim().split('\n').at(-1)!) as { sent: number; ok: number; busy: number };
}

describe('benchmark load generators', () => {
  let redis: RedisServer;
  let etcd: EtcdServer;

  beforeAll(async () => {
    [redis, etcd] = await Promise.all([startRedis(), startEtcd()]);
  });

  afterAll(async () => {
    await Promise.all([redis?.stop(), etcd?.stop()]);
  });

  it('Redis: one SET NX PX per attempt, one compare-and-delete per hold, nothing left behind', async () => {
    const result = await run('redis-load.ts', [redis.url, '300', '1', '50', '20']);
    expect(result.sent).toBe(300);
    expect(result.ok + result.busy).toBe(300);
    expect(result.ok).toBeGreaterThan(250);
    const stats = await redis.cli(['INFO', 'commandstats']);
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('set')).toBe(300);
    expect(calls('evalsha')).toBe(result.ok);
    expect((await redis.cli(['--scan', '--pattern', 'lock:bench:*'])).trim()).toBe('');
  });

  it('etcd: one create-if-absent transaction and one delete per hold, each its own revision, nothing left behind', async () => {
    const revision = async () => Number(/"revision":(\d+)/.exec(await etcd.etcdctl(['get', 'x', '-w', 'json']))![1]);
    const before = await revision();
    const result = await run('etcd-load.ts', [etcd.endpoints[0]!, '200', '1', '50', '20']);
    expect(result).toEqual({ sent: 200, ok: 200, busy: 0 });
    expect((await revision()) - before).toBe(400);
    expect((await etcd.etcdctl(['get', '--prefix', '/bench/', '--keys-only'])).trim()).toBe('');
  });

  it('the etcd generator\'s gRPC connection answers many calls at once and fails a call that etcd refuses', async () => {
    const conn = await GrpcH2Connection.open(etcd.endpoints[0]!);
    try {
      // RangeRequest{key: "/none"}: 300 at once, more than the 100 streams assumed before etcd's SETTINGS.
      const range = Buffer.concat([Buffer.from([0x0a, 5]), Buffer.from('/none')]);
      const replies = await Promise.all(Array.from({ length: 300 }, () => conn.unary('/etcdserverpb.KV/Range', range)));
      expect(replies.every((r) => r[0] === 0x0a)).toBe(true); // each starts with its ResponseHeader
      await expect(conn.unary('/etcdserverpb.KV/NoSuchMethod', range)).rejects.toThrow(/without a message \(a gRPC error/);
      // The connection survives a refused call.
      expect((await conn.unary('/etcdserverpb.KV/Range', range))[0]).toBe(0x0a);
    } finally {
      conn.close();
    }
  });

  it('fails with a clear message when the backend is not there', async () => {
    const child = startChild(process.execPath, ['--import', 'tsx', `${here}redis-load.ts`, 'redis://127.0.0.1:1/0', '10', '1', '5', '5']);
    expect(await child.exited).toBe(1);
    expect(child.output()).toMatch(/ECONNREFUSED/);
  });
});
