import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, startEtcd, startRedis } from './index.js';

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
