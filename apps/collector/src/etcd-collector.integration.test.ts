import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdEtcd3Lock, startEtcd, waitFor, type EtcdServer } from '@lockscope/testing';
import { startCollectorStack, type CollectorStack } from './test-stack.js';

describe('collector over a real etcd', () => {
  let etcd: EtcdServer;
  let stack: CollectorStack;

  beforeAll(async () => {
    etcd = await startEtcd();
    stack = await startCollectorStack({ etcd: { endpoints: etcd.endpoints } });
  });

  afterAll(async () => {
    await stack?.dispose();
    await etcd?.stop();
  });

  const lockRow = (name: string) => stack.lock('etcd-test', name);
  const lockHolds = (name: string) => stack.holds('etcd-test', name);
  const lockEvents = (name: string) => stack.events('etcd-test', name);

  it('three etcdctl lock contenders: one holder at a time, two waiters, increasing tokens, acquisition latency per waiter', async () => {
    // The first holds until told to stop; the other two queue behind it, then each holds briefly.
    const first = etcd.spawnEtcdctl(['lock', '/locks/job']);
    const contenders = [first];
    try {
      await waitFor(async () => (await lockRow('/locks/job'))?.held, { timeoutMs: 15_000, message: 'the first holder in the store' });
      contenders.push(etcd.spawnEtcdctl(['lock', '/locks/job', 'sleep', '0.5']));
      await waitFor(async () => (await lockRow('/locks/job'))?.waiters === 1, { timeoutMs: 15_000, message: 'the first waiter' });
      contenders.push(etcd.spawnEtcdctl(['lock', '/locks/job', 'sleep', '0.5']));
      const live = await waitFor(
        async () => {
          const row = await lockRow('/locks/job');
          return row && row.held && row.waiters === 2 ? row : undefined;
        },
        { timeoutMs: 15_000, message: 'one holder and two waiters in the store' },
      );
      expect(live.dialect).toBe('etcd-mutex');
      expect(live.token).toMatch(/^\d+$/);
      expect(JSON.parse(live.waiterQueue!)).toHaveLength(2);
      await first.stop();
      await Promise.all(contenders.map((c) => c.exited));
      const holds = await waitFor(
        async () => {
          const h = await lockHolds('/locks/job');
          return h && h.length === 3 ? h : undefined;
        },
        { timeoutMs: 15_000, message: 'three completed holds' },
      );
      const tokens = holds.map((h) => BigInt(h.token!));
      expect(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!).toBe(true);
      for (let i = 1; i < holds.length; i++) {
        // one holder at a time: each hold starts after the previous ended
        expect(Number(holds[i]!.acquiredAt)).toBeGreaterThanOrEqual(Number(holds[i - 1]!.endedAt));
      }
      expect(holds.every((h) => h.endReason === 'released')).toBe(true);
      // The first acquired at once; the others waited while earlier holders held.
      expect(holds[0]!.waitMs).toBe(0);
      expect(holds[1]!.waitMs).toBeGreaterThan(0);
      // The third also waited out the second's 0.5 s hold.
      expect(holds[2]!.waitMs).toBeGreaterThanOrEqual(400);
      expect(Number(holds[2]!.acquiredAt) - Number(holds[1]!.acquiredAt)).toBeGreaterThanOrEqual(400);
      const events = await lockEvents('/locks/job');
      expect(events.filter((e) => e.type === 'acquired').map((e) => e.valueMs)).toEqual(holds.map((h) => h.waitMs));
      // Each wait is exactly the time from the contender's key appearing to it holding.
      const added = events.filter((e) => e.type === 'waiter_added');
      expect(added).toHaveLength(2);
      for (const hold of holds.slice(1)) {
        const appeared = added.find((e) => e.token === hold.token);
        expect(appeared, `waiter_added for token ${hold.token}`).toBeDefined();
        expect(hold.waitMs).toBe(Number(hold.acquiredAt) - Number(appeared!.at));
      }
    } finally {
      await Promise.all(contenders.map((c) => c.stop()));
    }
  });

  it('an etcd3 Lock kept alive over several TTLs never fires near-expiry; frozen, it fires before the lease expires, then ends as expired', async () => {
    const holder = holdEtcd3Lock(etcd.endpoints, '/locks/cron', 3);
    try {
      await waitFor(() => holder.output().includes('acquired'), { timeoutMs: 10_000, message: 'the etcd3 lock to be acquired' });
      const acquiredRow = await waitFor(async () => {
        const row = await lockRow('/locks/cron');
        return row?.held ? row : undefined;
      }, { message: 'the held lock in the store' });
      expect(acquiredRow.dialect).toBe('etcd-lease-key');
      expect(acquiredRow.ttlMs).toBe(3000);
      // Three TTLs of real keepalives.
      await new Promise((r) => setTimeout(r, 9_000));
      expect((await lockEvents('/locks/cron')).filter((e) => e.type === 'near_expiry')).toEqual([]);
      expect((await lockRow('/locks/cron'))!.held).toBe(true);

      // Freeze the holder like a long GC pause: keepalives stop.
      const frozenAt = Date.now();
      holder.kill('SIGSTOP');
      const near = await waitFor(async () => (await lockEvents('/locks/cron')).find((e) => e.type === 'near_expiry'), {
        timeoutMs: 10_000,
        message: 'a near_expiry event',
      });
      const hold = await waitFor(async () => (await lockHolds('/locks/cron')).at(0), { timeoutMs: 10_000, message: 'the hold to end' });
      expect(hold.endReason).toBe('expired');
      expect(hold.nearExpiry).toBe(true);
      expect(Number(near.at)).toBeLessThan(Number(hold.endedAt));
      expect(Number(near.at)).toBeGreaterThanOrEqual(frozenAt);
    } finally {
      holder.kill('SIGKILL');
      await holder.exited;
    }
  });
});
