import { connect, createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, startEtcd, startRedis, startTcpProxy, waitFor } from './index.js';

/** Connects, writes `text`, and resolves with what came back before the socket closed. */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end(text));
    socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

describe('packages/testing starts real services', () => {
  it('starts a one-node etcd that etcdctl can write to, and removes it on stop', async () => {
    const etcd = await startEtcd();
    try {
      await etcd.etcdctl(['put', '/probe', 'v']);
      expect(await etcd.etcdctl(['get', '/probe', '--print-value-only'])).toBe('v\n');
    } finally {
      await etcd.stop();
    }
    await expect(fetch(`${etcd.endpoints[0]}/health`)).rejects.toThrow();
  });

  it('starts a three-member etcd cluster that survives one member stopping', async () => {
    const etcd = await startEtcd({ members: 3 });
    try {
      expect(etcd.endpoints).toHaveLength(3);
      await etcd.stopMember(2);
      await etcd.etcdctl(['put', '/after-stop', '1']);
      expect(await etcd.etcdctl(['get', '/after-stop', '--print-value-only'])).toBe('1\n');
    } finally {
      await etcd.stop();
    }
  });

  it('finds the leader of a three-member cluster, and the cluster serves after it is killed', async () => {
    const etcd = await startEtcd({ members: 3 });
    try {
      const leader = await etcd.leaderIndex();
      expect([0, 1, 2]).toContain(leader);
      await etcd.killMember(leader);
      expect(etcd.members[leader]!.child.process.signalCode).toBe('SIGKILL');
      // The two left elect a new leader; until then (and on the dead endpoint) puts time out.
      await waitFor(() => etcd.etcdctl(['put', '/after-kill', '1']).then(() => true), { timeoutMs: 30_000, intervalMs: 200, message: 'a put after the leader was killed' });
      expect(await etcd.etcdctl(['get', '/after-kill', '--print-value-only'])).toBe('1\n');
    } finally {
      await etcd.stop();
    }
  });

  it('shuts redis down without saving and starts it again, empty, on the same port', async () => {
    const redis = await startRedis();
    try {
      await redis.cli(['SET', 'k', 'v']);
      const first = redis.child;
      await redis.shutdownNoSave();
      expect(first.process.exitCode).toBe(0);
      await expect(redis.cli(['PING'])).rejects.toThrow();
      await redis.restart();
      expect(redis.child).not.toBe(first);
      expect((await redis.cli(['EXISTS', 'k'])).trim()).toBe('0');
      expect(await redis.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).toMatch(/notify-keyspace-events\n.*K/);
    } finally {
      await redis.stop();
    }
  });

  it('forwards through a TCP proxy, drops and refuses connections while cut, and forwards again', async () => {
    const echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const proxy = await startTcpProxy((echo.address() as AddressInfo).port);
    try {
      expect(await roundTrip(proxy.port, 'hello')).toBe('hello');
      // A connection open at the cut is dropped.
      const open = connect({ host: '127.0.0.1', port: proxy.port });
      await new Promise((resolve) => open.once('connect', resolve));
      const closed = new Promise((resolve) => open.once('close', resolve));
      open.on('error', () => undefined);
      proxy.cut();
      await closed;
      await expect(roundTrip(proxy.port, 'while cut')).rejects.toThrow(/ECONNRESET/);
      proxy.restore();
      expect(await roundTrip(proxy.port, 'again')).toBe('again');
    } finally {
      await proxy.close();
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  it('starts redis with keyspace notifications on', async () => {
    const redis = await startRedis();
    try {
      expect(await redis.cli(['CONFIG', 'GET', 'notify-keyspace-events'])).toMatch(/notify-keyspace-events\n.*K/);
    } finally {
      await redis.stop();
    }
  });

  it('creates and drops a fresh PostgreSQL database', async () => {
    const db = await createTestDatabase();
    try {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query('select current_database() as name');
      await client.end();
      expect(rows[0].name).toBe(db.name);
    } finally {
      await db.drop();
    }
  });
});
