import { displayKey, isLockscopeError, type EtcdSourceConfig, type LockObservation } from '@lockscope/core';
import { freePort, startEtcd, waitFor, type Child, type EtcdServer } from '@lockscope/testing';
import { Etcd3 } from 'etcd3';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ObservationSink, SourceHealth } from '../source.js';
import { createEtcdSource } from './etcd-source.js';

function sourceConfig(etcd: Pick<EtcdServer, 'endpoints'>, prefixes = ['/locks/']): EtcdSourceConfig {
  return { name: 'etcd-test', kind: 'etcd', endpoints: etcd.endpoints, prefixes };
}

function recordingSink() {
  const observations: LockObservation[] = [];
  const progress: string[] = [];
  const resynced: Set<string>[] = [];
  const healths: SourceHealth[] = [];
  const sink: ObservationSink = {
    observe: (o) => observations.push(o),
    progress: (_source, revision) => progress.push(revision),
    resynced: (_source, keys) => resynced.push(keys),
    health: (h) => healths.push(h),
  };
  const of = (name: string) => observations.filter((o) => displayKey(o.key) === name);
  const latest = (name: string) => of(name).at(-1);
  return { sink, observations, progress, resynced, healths, of, latest };
}

/** Distinct holds in the order they first appear. */
function holdsInOrder(observations: LockObservation[]) {
  const seen = new Map<string, LockObservation>();
  for (const o of observations) if (o.hold && !seen.has(o.hold.holdId)) seen.set(o.hold.holdId, o);
  return [...seen.values()].map((o) => o.hold!);
}

async function killAll(children: Child[]) {
  await Promise.all(children.map((c) => c.stop(1000)));
}

/**
 * A loopback TCP relay to a real etcd whose link can be cut and restored: the
 * network failure is simulated, etcd and the source are real.
 */
async function cuttableLink(target: string) {
  const port = await freePort();
  const { port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  let open = true;
  // Frozen: bytes are swallowed and nothing is closed, like a dead route without RST.
  let frozen = false;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(Number(targetPort), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => frozen || client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    freeze() {
      frozen = true;
    },
    restore() {
      for (const s of sockets) s.destroy();
      frozen = false;
      open = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('etcd source against a real etcd', () => {
  it('sees three `etcdctl lock` contenders as one holder and two waiters, holds handed on in order with rising tokens', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    const rec = recordingSink();
    const children: Child[] = [];
    try {
      await source.watch({ sink: rec.sink });
      expect(source.health()).toMatchObject({ connected: true, lastError: null });
      await waitFor(() => source.health().version ?? undefined, { message: 'the server version' });
      expect(source.health().version).toMatch(/^3\.\d+\.\d+/);
      expect(await source.probe()).toMatchObject({ name: 'etcd-test', kind: 'etcd', connected: true, lastError: null });
      for (let i = 0; i < 3; i++) {
        children.push(etcd.spawnEtcdctl(['lock', '/locks/job']));
        await waitFor(() => (rec.latest('/locks/job')?.waiters?.length ?? -1) === i, { message: `contender ${i + 1} to show up` });
      }
      // Only the first prints its key: it alone holds the lock.
      await waitFor(() => children[0]!.output().includes('/locks/job/'), { message: 'first etcdctl to print its key' });
      expect(children[1]!.output()).toBe('');
      const three = rec.latest('/locks/job')!;
      expect(three.dialect).toBe('etcd-mutex');
      expect(three.hold!.ttlMs).toBe(10_000);
      expect(three.hold!.holder).toBe(children[0]!.output().trim().split('/').at(-1));
      expect(three.waiters!.map((w) => Number(w.token))).toEqual([...three.waiters!.map((w) => Number(w.token))].sort((a, b) => a - b));
      expect(three.waiters!.every((w) => w.since !== null && Number(w.token) > Number(three.hold!.token))).toBe(true);

      // SIGTERM makes etcdctl Unlock: its key goes while its lease lives on, so "released".
      await children[0]!.stop();
      await waitFor(() => rec.latest('/locks/job')?.hold?.holdId === three.waiters![0]!.id, { message: 'second contender to hold' });
      expect(rec.latest('/locks/job')).toMatchObject({ endCause: 'released', waiters: [{ id: three.waiters![1]!.id }] });
      await waitFor(() => children[1]!.output().includes('/locks/job/'), { message: 'second etcdctl to print its key' });

      await children[1]!.stop();
      await waitFor(() => rec.latest('/locks/job')?.hold?.holdId === three.waiters![1]!.id, { message: 'third contender to hold' });
      expect(rec.latest('/locks/job')!.waiters).toEqual([]);

      const job = rec.of('/locks/job');
      // The lease is looked up when a hold starts, so its first observation knows the remaining TTL.
      expect(job[0]!.hold!.remainingMs).toBeGreaterThan(0);
      expect(job[0]!.hold!.remainingMs).toBeLessThanOrEqual(10_000);
      expect(job.every((o) => o.seq > 0n && o.revision === o.seq.toString())).toBe(true);
      expect(job.map((o) => o.seq)).toEqual([...job.map((o) => o.seq)].sort((a, b) => (a < b ? -1 : 1)));
      const holds = holdsInOrder(job);
      expect(holds).toHaveLength(3);
      expect(holds.map((h) => Number(h.token))).toEqual([...holds.map((h) => Number(h.token))].sort((a, b) => a - b));
      expect(new Set(holds.map((h) => h.token)).size).toBe(3);
      // Progress follows delivery, one revision at a time upward.
      expect(rec.progress.length).toBeGreaterThan(3);
      expect(rec.progress.map(BigInt)).toEqual([...rec.progress.map(BigInt)].sort((a, b) => (a < b ? -1 : 1)));
    } finally {
      await killAll(children);
      await source.stop();
      await etcd.stop();
    }
  });

  it('watches several prefixes: an `etcdctl elect` campaign is a mutex-recipe lock showing each candidate proposal', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd, ['/locks/', '/leader/', '/locks/nested/']));
    const rec = recordingSink();
    const children: Child[] = [];
    try {
      await source.watch({ sink: rec.sink });
      children.push(etcd.spawnEtcdctl(['elect', '/leader/api', 'node-1']));
      await waitFor(() => rec.latest('/leader/api')?.hold ?? undefined, { message: 'the leader' });
      children.push(etcd.spawnEtcdctl(['elect', '/leader/api', 'node-2']));
      await waitFor(() => rec.latest('/leader/api')?.waiters?.length === 1, { message: 'the second candidate' });
      await etcd.etcdctl(['put', '/locks/nested/deep', 'x']);
      await waitFor(() => rec.latest('/locks/nested/deep'), { message: 'the nested key' });

      const leader = rec.latest('/leader/api')!;
      expect(leader.dialect).toBe('etcd-mutex');
      expect(leader.hold!.holder).toMatch(/^[0-9a-f]+ \(node-1\)$/);
      expect(leader.waiters![0]!.holder).toMatch(/^[0-9a-f]+ \(node-2\)$/);
      // Each key is seen once even though '/locks/nested/' lies under '/locks/'.
      expect(rec.of('/locks/nested/deep')).toHaveLength(1);
      const listed = await source.list();
      expect(listed.map((l) => [l.name, l.dialect])).toEqual([
        ['/leader/api', 'etcd-mutex'],
        ['/locks/nested/deep', 'etcd-lease-key'],
      ]);
    } finally {
      await killAll(children);
      await source.stop();
      await etcd.stop();
    }
  });

  it('tells a lapsed lease ("expired") from an unlock ("released")', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    const rec = recordingSink();
    const children: Child[] = [];
    try {
      await source.watch({ sink: rec.sink });
      const holder = etcd.spawnEtcdctl(['lock', '--ttl=2', '/locks/stall']);
      children.push(holder);
      await waitFor(() => rec.latest('/locks/stall')?.hold ?? undefined, { message: 'the hold' });
      expect(rec.latest('/locks/stall')!.hold!.ttlMs).toBe(2_000);
      // A killed holder cannot unlock or keep its lease alive: etcd deletes the key when the lease lapses.
      holder.kill('SIGKILL');
      const ended = await waitFor(() => rec.of('/locks/stall').find((o) => o.hold === null), { timeoutMs: 15_000, message: 'the lease to lapse' });
      expect(ended.endCause).toBe('expired');
    } finally {
      await killAll(children);
      await source.stop();
      await etcd.stop();
    }
  });

  it('recognises an npm etcd3 Lock as a lease key, and checkLease sees its keepalives renew it', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    const rec = recordingSink();
    const locker = new Etcd3({ hosts: etcd.endpoints });
    try {
      await source.watch({ sink: rec.sink });
      // etcd reports remaining TTL in whole seconds; at 4 s (keepalive every 1.33 s) a renewal shows as 2 -> 3.
      const lock = locker.lock('/locks/etcd3-lock').ttl(4);
      await lock.acquire();
      const acquired = await waitFor(() => rec.latest('/locks/etcd3-lock')?.hold ?? undefined, { message: 'the etcd3 lock hold' });
      const leaseId = BigInt((await lock.leaseId())!).toString(16);
      expect(rec.latest('/locks/etcd3-lock')).toMatchObject({ dialect: 'etcd-lease-key', waiters: null });
      expect(acquired).toMatchObject({ ttlMs: 4_000, lease: leaseId, holder: `lease ${leaseId}` });
      expect(acquired.holdId).toMatch(/^@\d+$/);

      // Held for three TTLs: without renewals it would have lapsed; remaining must climb back at least once.
      const samples: number[] = [];
      const started = Date.now();
      while (Date.now() - started < 12_500) {
        const check = await source.checkLease(new Uint8Array(Buffer.from('/locks/etcd3-lock')), acquired.holdId);
        expect(check.exists).toBe(true);
        expect(check.ttlMs).toBe(4_000);
        samples.push(check.remainingMs!);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(samples.some((v, i) => i > 0 && v > samples[i - 1]!)).toBe(true);
      expect(samples.every((v) => v > 0 && v <= 4_000)).toBe(true);
      expect(rec.of('/locks/etcd3-lock').filter((o) => o.hold).length).toBe(1);

      // etcd3's release revokes the lease: gone, but long before it could have lapsed, so "released".
      await lock.release();
      await waitFor(() => rec.latest('/locks/etcd3-lock')?.hold === null, { message: 'the release' });
      expect(rec.latest('/locks/etcd3-lock')!.endCause).toBe('released');
      expect(await source.checkLease(new Uint8Array(Buffer.from('/locks/etcd3-lock')), acquired.holdId)).toEqual({ exists: false, remainingMs: null, ttlMs: null });
    } finally {
      locker.close();
      await source.stop();
      await etcd.stop();
    }
  });

  it('replays every hold made while it was stopped, in order and once, and resyncs after a compaction', async () => {
    const etcd = await startEtcd();
    const config = sourceConfig(etcd);
    const first = createEtcdSource(config);
    const rec1 = recordingSink();
    try {
      await first.watch({ sink: rec1.sink });
      await etcd.etcdctl(['lock', '/locks/cron', 'true']);
      await waitFor(() => rec1.of('/locks/cron').some((o) => o.hold === null), { message: 'the first hold to end' });
      const resumeAt = rec1.progress.at(-1)!;
      await first.stop();
      expect(first.health().connected).toBe(false);

      // Three complete holds (acquire, run `true`, unlock) while nobody watches.
      for (let i = 0; i < 3; i++) await etcd.etcdctl(['lock', '/locks/cron', 'true']);
      const headWhileStopped = BigInt(JSON.parse(await etcd.etcdctl(['get', '/', '-w', 'json'])).header.revision);

      const second = createEtcdSource(config);
      const rec2 = recordingSink();
      let lastProgress: string;
      try {
        await second.watch({ sink: rec2.sink, resumeRevision: resumeAt });
        await waitFor(() => rec2.progress.length > 0 && BigInt(rec2.progress.at(-1)!) >= headWhileStopped, { message: 'the replay' });
        const replayed = rec2.of('/locks/cron');
        const holds = holdsInOrder(replayed);
        expect(holds).toHaveLength(3);
        expect(holds.every((h) => BigInt(h.token!) > BigInt(resumeAt))).toBe(true);
        expect(holds.map((h) => Number(h.token))).toEqual([...holds.map((h) => Number(h.token))].sort((a, b) => a - b));
        // Each hold appears exactly once and ends exactly once.
        expect(replayed.filter((o) => o.hold).length).toBe(3);
        expect(replayed.filter((o) => o.hold === null).length).toBe(3);
        expect(replayed.every((o) => o.replayed === true && o.seq > BigInt(resumeAt))).toBe(true);
        expect(new Set(replayed.map((o) => o.seq)).size).toBe(replayed.length);
        expect(rec2.resynced).toHaveLength(0);

        // Live events after the replay are not marked replayed.
        await etcd.etcdctl(['lock', '/locks/cron', 'true']);
        await waitFor(() => rec2.of('/locks/cron').length === 8, { message: 'the live hold' });
        expect(rec2.of('/locks/cron').slice(6).every((o) => o.replayed === undefined)).toBe(true);
        lastProgress = rec2.progress.at(-1)!;
      } finally {
        await second.stop();
      }

      // Compaction past the resume point: the source re-reads, tells the sink, and watches on.
      const holder = etcd.spawnEtcdctl(['lock', '/locks/after-compaction']);
      try {
        await waitFor(() => holder.output().includes('/locks/after-compaction/'), { message: 'a hold made while stopped' });
        const head = JSON.parse(await etcd.etcdctl(['get', '/', '-w', 'json'])).header.revision as number;
        await etcd.etcdctl(['compact', String(head)]);
        const third = createEtcdSource(config);
        const rec3 = recordingSink();
        try {
          await third.watch({ sink: rec3.sink, resumeRevision: lastProgress });
          expect(rec3.resynced).toHaveLength(1);
          expect([...rec3.resynced[0]!].map((hex) => Buffer.from(hex, 'hex').toString())).toEqual(['/locks/after-compaction']);
          expect(rec3.latest('/locks/after-compaction')).toMatchObject({ replayed: true, waiters: [] });
          expect(BigInt(rec3.progress.at(-1)!)).toBeGreaterThanOrEqual(BigInt(head));
          await holder.stop();
          await waitFor(() => rec3.latest('/locks/after-compaction')?.hold === null, { message: 'a live event after the resync' });
        } finally {
          await third.stop();
        }
      } finally {
        await holder.stop();
      }
    } finally {
      await first.stop();
      await etcd.stop();
    }
  });

  it('releases only the observed hold: the waiter takes over; stale, free, unknown and unreachable are clear errors', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    const children: Child[] = [];
    let stopped = false;
    try {
      children.push(etcd.spawnEtcdctl(['lock', '/locks/rel']));
      await waitFor(() => children[0]!.output().includes('/locks/rel/'), { message: 'first holder' });
      children.push(etcd.spawnEtcdctl(['lock', '/locks/rel']));
      const before = await waitFor(async () => {
        const lock = await source.get('/locks/rel');
        return lock?.waiters?.length === 1 ? lock : undefined;
      }, { message: 'a waiter' });
      expect(before.hold).toMatchObject({ ttlMs: 10_000 });
      expect(before.hold!.remainingMs).toBeGreaterThan(0);

      const dry = await source.release({ name: '/locks/rel', expectHoldId: before.hold!.holdId, dryRun: true });
      expect(dry.released).toBe(false);
      expect(dry.actions[0]).toContain(`create_revision is still ${before.hold!.token}`);
      expect((await source.get('/locks/rel'))!.hold!.holdId).toBe(before.hold!.holdId);

      const result = await source.release({ name: '/locks/rel', expectHoldId: before.hold!.holdId });
      expect(result.released).toBe(true);
      expect(result.lock.hold!.holdId).toBe(before.hold!.holdId);
      // The waiting etcdctl acquires on its own, as after a normal unlock.
      await waitFor(() => children[1]!.output().includes('/locks/rel/'), { message: 'the waiter to acquire' });
      const after = (await source.get('/locks/rel'))!;
      expect(after.hold!.holdId).toBe(before.waiters![0]!.id);

      // The old token is stale now: refused, nothing deleted.
      const stale = await source.release({ name: '/locks/rel', expectToken: before.hold!.token }).catch((e: unknown) => e);
      expect(isLockscopeError(stale, 'HOLDER_CHANGED')).toBe(true);
      expect((stale as Error).message).toContain(after.hold!.holder);
      expect((await source.get('/locks/rel'))!.hold!.holdId).toBe(after.hold!.holdId);

      // A lease-key lock seen held, then gone: free.
      await etcd.etcdctl(['put', '/locks/single', 'worker-1']);
      const single = (await source.get('/locks/single'))!;
      expect(single).toMatchObject({ dialect: 'etcd-lease-key', hold: { holder: 'worker-1', ttlMs: null } });
      await etcd.etcdctl(['del', '/locks/single']);
      const free = await source.release({ name: '/locks/single', expectHoldId: single.hold!.holdId }).catch((e: unknown) => e);
      expect(isLockscopeError(free, 'LOCK_FREE')).toBe(true);

      const unknown = await source.release({ name: '/locks/never-existed' }).catch((e: unknown) => e);
      expect(isLockscopeError(unknown, 'LOCK_NOT_FOUND')).toBe(true);

      await etcd.stop();
      stopped = true;
      const unreachable = await source.release({ name: '/locks/rel', expectHoldId: after.hold!.holdId }).catch((e: unknown) => e);
      expect(isLockscopeError(unreachable, 'SOURCE_UNREACHABLE')).toBe(true);
      expect((unreachable as Error).message).toContain(etcd.endpoints[0]);
    } finally {
      await killAll(children);
      await source.stop();
      if (!stopped) await etcd.stop();
    }
  });

  it('with revokeLease lists every key on the holder lease, then revokes it', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    try {
      const lease = (await etcd.etcdctl(['lease', 'grant', '60'])).match(/lease ([0-9a-f]+) granted/)![1]!;
      // etcdctl pads lease ids to 16 digits; Go's mutex keys (and Lockscope) do not.
      const leaseShown = BigInt(`0x${lease}`).toString(16);
      await etcd.etcdctl(['put', '--lease', lease, '/locks/leased', 'svc-a']);
      await etcd.etcdctl(['put', '--lease', lease, '/other/session-marker', 'x']);
      const lock = (await source.get('/locks/leased'))!;
      expect(lock.hold).toMatchObject({ lease: leaseShown, ttlMs: 60_000 });
      const result = await source.release({ name: '/locks/leased', expectHoldId: lock.hold!.holdId, revokeLease: true });
      expect(result.released).toBe(true);
      expect(result.leaseKeys!.sort()).toEqual(['/locks/leased', '/other/session-marker']);
      expect(await etcd.etcdctl(['get', '--prefix', '/other/'])).toBe('');
      expect(await etcd.etcdctl(['lease', 'timetolive', lease])).toContain('already expired');
    } finally {
      await source.stop();
      await etcd.stop();
    }
  });

  it('observes keys with non-UTF-8 bytes, control characters and a 1 MB value without crashing, and shows them safely', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    const rec = recordingSink();
    const writer = new Etcd3({ hosts: etcd.endpoints });
    try {
      await writer.put(Buffer.from([...Buffer.from('/locks/bin-'), 0xff, 0xfe, 0x00])).value(Buffer.from([0x80, 0x81]));
      await source.watch({ sink: rec.sink });
      await writer.put('/locks/ctl\n\u001b[31mred').value('line1\nline2\u0007');
      await writer.put('/locks/huge').value(Buffer.alloc(1024 * 1024, 'v'));
      await waitFor(() => rec.observations.length >= 3, { message: 'three odd locks' });

      const names = rec.observations.map((o) => displayKey(o.key));
      expect(names).toContain('/locks/bin-\\xff\\xfe\u0000');
      const bin = rec.observations.find((o) => o.key.length === 14)!;
      expect(Buffer.from(bin.key)).toEqual(Buffer.from([...Buffer.from('/locks/bin-'), 0xff, 0xfe, 0x00]));
      expect(bin.hold!.holder).toBe('2 bytes binary');
      expect(rec.latest('/locks/ctl\n\u001b[31mred')!.hold!.holder).toBe('line1\\x0aline2\\x07');
      const huge = rec.latest('/locks/huge')!.hold!.holder;
      expect(huge.length).toBeLessThan(200);
      expect(huge).toContain('1048576 bytes');

      const listed = await source.list();
      expect(listed.map((l) => l.name).sort()).toEqual(['/locks/bin-\\xff\\xfe\u0000', '/locks/ctl\n\u001b[31mred', '/locks/huge']);
      expect((await source.get('/locks/bin-\\xff\\xfe\u0000'))!.key).toEqual(bin.key);
      expect(source.health().connected).toBe(true);
    } finally {
      writer.close();
      await source.stop();
      await etcd.stop();
    }
  });

  it('reads and watches more big values than fit one gRPC message: pages shrink, fragments are joined', async () => {
    const etcd = await startEtcd();
    const maxReceiveBytes = 4 * 1024 * 1024;
    const source = createEtcdSource(sourceConfig(etcd), { maxReceiveBytes });
    const rec = recordingSink();
    const writer = new Etcd3({ hosts: etcd.endpoints });
    try {
      const lease = writer.lease(60, { autoKeepAlive: false });
      const leaseId = await lease.grant();
      for (let i = 0; i < 10; i++) await writer.put(`/locks/big-${i}`).value(Buffer.alloc(1024 * 1024, 'b')).lease(leaseId);
      // Ten 1 MB values cannot come in one 4 MB range page.
      await source.watch({ sink: rec.sink });
      expect(rec.observations.filter((o) => o.hold)).toHaveLength(10);
      expect(await source.list()).toHaveLength(10);
      // Revoking the lease deletes all ten in one revision; with prev_kv that is ~10 MB of events.
      await lease.revoke();
      await waitFor(() => rec.observations.filter((o) => o.hold === null).length === 10, { message: 'ten deletes in one revision' });
      const ends = rec.observations.filter((o) => o.hold === null);
      expect(new Set(ends.map((o) => o.seq)).size).toBe(1);
      expect(source.health()).toMatchObject({ connected: true, lastError: null });
    } finally {
      writer.close();
      await source.stop();
      await etcd.stop();
    }
  });

  it('reconnects after the link drops and replays, from the last delivered revision, the holds made meanwhile', async () => {
    const etcd = await startEtcd();
    const link = await cuttableLink(etcd.endpoints[0]!);
    const source = createEtcdSource(sourceConfig({ endpoints: [link.endpoint] }));
    const rec = recordingSink();
    try {
      await source.watch({ sink: rec.sink });
      await etcd.etcdctl(['lock', '/locks/flaky', 'true']);
      await waitFor(() => rec.of('/locks/flaky').length === 2, { message: 'the first hold and its end' });

      link.cut();
      await waitFor(() => !source.health().connected, { message: 'the source to notice the cut' });
      expect(source.health().lastError).toContain(link.endpoint);
      expect(rec.healths.some((h) => !h.connected)).toBe(true);
      for (let i = 0; i < 2; i++) await etcd.etcdctl(['lock', '/locks/flaky', 'true']);
      link.restore();

      await waitFor(() => rec.of('/locks/flaky').length === 6, { timeoutMs: 30_000, message: 'the holds made during the cut' });
      await waitFor(() => source.health().connected, { message: 'connected again' });
      const flaky = rec.of('/locks/flaky');
      const holds = holdsInOrder(flaky);
      expect(holds).toHaveLength(3);
      expect(holds.map((h) => Number(h.token))).toEqual([...holds.map((h) => Number(h.token))].sort((a, b) => a - b));
      expect(flaky.map((o) => o.hold === null)).toEqual([false, true, false, true, false, true]);
      expect(flaky.filter((o) => o.hold === null).every((o) => o.endCause === 'released')).toBe(true);
      expect(flaky.map((o) => o.replayed === true)).toEqual([false, false, true, true, true, true]);
      expect(rec.resynced).toHaveLength(1);
    } finally {
      await source.stop();
      await link.close();
      await etcd.stop();
    }
  });

  it('keeps watching a three-member cluster through the loss of a member', async () => {
    const etcd = await startEtcd({ members: 3 });
    const source = createEtcdSource(sourceConfig(etcd));
    const rec = recordingSink();
    try {
      await source.watch({ sink: rec.sink });
      await etcd.etcdctl(['lock', '/locks/ha', 'true']);
      await waitFor(() => rec.of('/locks/ha').length === 2, { message: 'a hold before the loss' });
      await etcd.stopMember(0);
      for (let i = 0; i < 2; i++) await etcd.spawnEtcdctl(['--endpoints', etcd.endpoints.slice(1).join(','), 'lock', '/locks/ha', 'true']).exited;
      await waitFor(() => rec.of('/locks/ha').length === 6, { timeoutMs: 30_000, message: 'the holds after the loss' });
      expect(holdsInOrder(rec.of('/locks/ha'))).toHaveLength(3);
      await waitFor(() => source.health().connected, { message: 'connected' });
      expect((await source.list()).map((l) => l.name)).toEqual([]);
    } finally {
      await source.stop();
      await etcd.stop();
    }
  });

  it('notices a link that goes silent without closing, and recovers once it works again', async () => {
    const etcd = await startEtcd();
    const link = await cuttableLink(etcd.endpoints[0]!);
    const source = createEtcdSource(sourceConfig({ endpoints: [link.endpoint] }));
    const rec = recordingSink();
    try {
      await source.watch({ sink: rec.sink });
      link.freeze();
      const frozenAt = Date.now();
      await etcd.etcdctl(['lock', '/locks/silent', 'true']);
      // gRPC keepalive (10 s + 5 s) or the watch's own silence limit must give up on the stream.
      await waitFor(() => !source.health().connected, { timeoutMs: 45_000, intervalMs: 200, message: 'the silent link to be noticed' });
      const noticedAfterMs = Date.now() - frozenAt;
      console.info(`silent link noticed after ${noticedAfterMs} ms`);
      expect(noticedAfterMs).toBeLessThan(40_000);
      expect(source.health().lastError).toContain(link.endpoint);
      link.restore();
      await waitFor(() => rec.of('/locks/silent').length === 2, { timeoutMs: 45_000, message: 'the hold made while silent' });
      expect(rec.of('/locks/silent').every((o) => o.replayed === true)).toBe(true);
    } finally {
      await source.stop();
      await link.close();
      await etcd.stop();
    }
  }, 120_000);

  it('when the history it needs was compacted during a link cut, the reopened watch is refused: it re-reads, resyncs, and watches on', async () => {
    const etcd = await startEtcd();
    const link = await cuttableLink(etcd.endpoints[0]!);
    const source = createEtcdSource(sourceConfig({ endpoints: [link.endpoint] }));
    const rec = recordingSink();
    const children: Child[] = [];
    try {
      await source.watch({ sink: rec.sink });
      await etcd.etcdctl(['put', '/locks/gone-while-cut', 'a']);
      await waitFor(() => rec.latest('/locks/gone-while-cut'), { message: 'the first lock' });
      expect(rec.resynced).toHaveLength(1);

      link.cut();
      await waitFor(() => !source.health().connected, { message: 'the cut to be noticed' });
      await etcd.etcdctl(['del', '/locks/gone-while-cut']);
      children.push(etcd.spawnEtcdctl(['lock', '/locks/made-while-cut']));
      await waitFor(() => children[0]!.output().includes('/locks/made-while-cut/'), { message: 'a hold made during the cut' });
      const head = JSON.parse(await etcd.etcdctl(['get', '/', '-w', 'json'])).header.revision as number;
      await etcd.etcdctl(['compact', String(head)]);
      link.restore();

      await waitFor(() => rec.resynced.length === 2, { timeoutMs: 30_000, message: 'the resync after compaction' });
      expect([...rec.resynced[1]!].map((hex) => Buffer.from(hex, 'hex').toString())).toEqual(['/locks/made-while-cut']);
      expect(rec.latest('/locks/made-while-cut')).toMatchObject({ replayed: true, dialect: 'etcd-mutex' });
      await waitFor(() => source.health().connected, { message: 'connected again' });
      // Watching on from the re-read: a live release arrives.
      await children[0]!.stop();
      await waitFor(() => rec.latest('/locks/made-while-cut')?.hold === null, { message: 'the live release' });
      expect(rec.latest('/locks/made-while-cut')!.endCause).toBe('released');
    } finally {
      await killAll(children);
      await source.stop();
      await link.close();
      await etcd.stop();
    }
  });

  it('stop() after watching, listing and checking leases leaves no connection or timer behind', async () => {
    const etcd = await startEtcd();
    const port = Number(new URL(etcd.endpoints[0]!).port);
    // Client-side ends of established TCP connections to etcd, from the kernel's table.
    const connectionsToEtcd = () =>
      readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols[3] === '01' && Number.parseInt(cols[2]?.split(':')[1] ?? '', 16) === port).length;
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    try {
      const timersBefore = timers();
      // etcd's own HTTP gateway keeps connections to its client port.
      const baseline = connectionsToEtcd();
      const source = createEtcdSource(sourceConfig(etcd));
      // Construction alone connects nothing.
      expect(connectionsToEtcd()).toBe(baseline);
      const rec = recordingSink();
      await source.watch({ sink: rec.sink });
      await etcd.etcdctl(['put', '/locks/s', 'x']);
      const lock = await waitFor(() => rec.latest('/locks/s')?.hold ?? undefined, { message: 'the lock' });
      await source.list();
      await source.checkLease(new Uint8Array(Buffer.from('/locks/s')), lock.holdId);
      expect(connectionsToEtcd()).toBeGreaterThan(baseline);
      await source.stop();
      await waitFor(() => connectionsToEtcd() <= baseline, { timeoutMs: 5_000, message: 'the gRPC connection to close' });
      expect(timers()).toBeLessThanOrEqual(timersBefore);
    } finally {
      await etcd.stop();
    }
  });

  it('fails fast with SOURCE_UNREACHABLE naming the endpoint, keeps retrying the watch, and stops cleanly', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const source = createEtcdSource({ name: 'etcd-down', kind: 'etcd', endpoints: [endpoint], prefixes: ['/locks/'] });
    const rec = recordingSink();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    try {
      const started = Date.now();
      const listed = await source.list().catch((e: unknown) => e);
      expect(isLockscopeError(listed, 'SOURCE_UNREACHABLE')).toBe(true);
      expect((listed as Error).message).toContain(endpoint);
      expect(Date.now() - started).toBeLessThan(15_000);

      const watched = await source.watch({ sink: rec.sink }).catch((e: unknown) => e);
      expect(isLockscopeError(watched, 'SOURCE_UNREACHABLE')).toBe(true);
      expect(source.health()).toMatchObject({ connected: false });
      expect(source.health().lastError).toContain(endpoint);
      const probe = await source.probe();
      expect(probe.connected).toBe(false);
    } finally {
      await source.stop();
    }
    expect(rec.observations).toHaveLength(0);
    // No reconnect timer survives stop().
    await new Promise((r) => setImmediate(r));
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
  });

  it('lists 5,000 locks with one range read per prefix and batched lease lookups', async () => {
    const etcd = await startEtcd();
    const source = createEtcdSource(sourceConfig(etcd));
    const writer = new Etcd3({ hosts: etcd.endpoints });
    try {
      const leases = await Promise.all(Array.from({ length: 50 }, () => writer.lease(60, { autoKeepAlive: false }).grant()));
      for (let batch = 0; batch < 50; batch++) {
        const ops = Array.from({ length: 100 }, (_, i) => writer.put(`/locks/many/${batch}-${i}`).value(`owner-${i}`).lease(leases[batch]!).exec());
        await Promise.all(ops);
      }
      const started = performance.now();
      const locks = await source.list();
      const ms = performance.now() - started;
      expect(locks).toHaveLength(5_000);
      expect(locks.every((l) => l.hold?.ttlMs === 60_000 && l.hold.remainingMs! > 0)).toBe(true);
      console.info(`list() of 5,000 etcd locks took ${ms.toFixed(0)} ms`);
      expect(ms).toBeLessThan(5_000);
    } finally {
      writer.close();
      await source.stop();
      await etcd.stop();
    }
  });
});
