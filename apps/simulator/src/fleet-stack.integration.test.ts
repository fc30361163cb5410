import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startChild, writeFleetConfig, startEtcd, startRedis, waitFor, type Child } from '@lockscope/testing';
import { describe, expect, it } from 'vitest';
import { parseRefusalLine } from './fencing-resource.js';
import { bins, cleanEnv, lockctl, requireBuilt, type LsRow } from './fleet-test-support.js';

function counter(metrics: string, name: string, lock: string): number {
  const m = new RegExp(`^${name}\\{[^}]*lock="${lock.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"[^}]*\\} (\\d+)`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}

describe('the simulated fleet through the collector and lockctl', () => {
  it('every pattern is seen with its dialect and waiters; the stall and the crash end holds as expired after near-expiry; stale writes are refused', async () => {
    requireBuilt();
    const etcd = await startEtcd();
    const redis = await startRedis({ notifyKeyspaceEvents: 'Kg$hlzxe' }).catch(async (error: unknown) => {
      await etcd.stop();
      throw error;
    });
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-fleet-'));
    const listen = `127.0.0.1:${await freePort()}`;
    const configPath = writeFleetConfig({ dir, etcdEndpoints: etcd.endpoints, redisUrl: redis.url, listen });
    let collector: Child | null = null;
    let simulator: Child | null = null;
    try {
      const fencingToken = 'fleet-fencing-token-0123456789';
      collector = startChild(process.execPath, [bins.collector, '--config', configPath], { env: { ...cleanEnv(), LOCKSCOPE_FENCING_TOKEN: fencingToken }, cwd: dir });
      await waitFor(async () => {
        if (collector!.process.exitCode !== null) throw new Error(`collector exited: ${collector!.output()}`);
        return (await fetch(`http://${listen}/healthz`)).status === 200;
      }, { timeoutMs: 30_000, message: 'collector /healthz' });

      simulator = startChild(
        process.execPath,
        [bins.simulator, '--profile', 'demo', '--seed', '7', '--etcd', etcd.endpoints[0]!, '--redis', redis.url, '--report-fencing', `http://${listen}`, '--fencing-sources', 'etcd-sim,redis-sim'],
        { env: { ...cleanEnv(), LOCKSCOPE_FENCING_TOKEN: fencingToken } },
      );
      const refusals = await waitFor(() => {
        if (simulator!.process.exitCode !== null) throw new Error(`simulator exited: ${simulator!.output()}`);
        const found = simulator!.output().split('\n').map(parseRefusalLine).filter((r) => r !== null);
        return found.length >= 2 ? found : false;
      }, { timeoutMs: 50_000, intervalMs: 250, message: 'refused stale writes on both backends' });
      expect(new Set(refusals.map((r) => r.resource))).toEqual(new Set(['/locks/payments', 'lock:ledger']));

      // The fenced resources reported what they refused: the stalled etcd worker's write is a
      // stale_token_refused hazard, and the handover it came from is critical (it was alive).
      const hazards = await waitFor(async () => {
        const found = (await lockctl(['doctor', '--config', configPath], { allowExit: [0, 1] })) as Array<{ kind: string; severity: string; lock: string }>;
        return found.some((h) => h.kind === 'stale_token_refused' && h.lock === '/locks/payments') ? found : false;
      }, { timeoutMs: 20_000, intervalMs: 500, message: 'the refused stale write as a hazard' });
      expect(hazards.find((h) => h.kind === 'unsafe_handover' && h.lock === '/locks/payments')).toMatchObject({ severity: 'critical' });

      // lockctl ls --json reads the backends live: every kind of lock is recognised with its dialect.
      const seen = new Map<string, LsRow>();
      await waitFor(async () => {
        for (const row of (await lockctl(['ls', '--config', configPath])) as LsRow[]) seen.set(row.name, row);
        return ['/locks/cron-leader', '/locks/pricing', 'lock:orders', 'lock:checkout', 'lock:job:0000'].every((n) => seen.has(n)) && [...seen.keys()].some((n) => n.startsWith('/locks/inventory/'));
      }, { timeoutMs: 30_000, intervalMs: 500, message: 'every pattern in lockctl ls' });
      expect(seen.get('/locks/cron-leader')).toMatchObject({ source: 'etcd-sim', dialect: 'etcd-mutex' });
      expect(seen.get('/locks/cron-leader')!.holder).toMatch(/^[0-9a-f]+ \(scheduler-[abc]/);
      // Three candidates: one leads, two wait in the recipe's queue.
      expect(seen.get('/locks/cron-leader')!.waiters).toBe(2);
      // A one-shot read cannot tell a fair lock with an empty queue (Redisson deletes the
      // queue keys) from a plain Redisson lock.
      expect(seen.get('lock:checkout')).toMatchObject({ source: 'redis-sim' });
      expect(['redisson-fair', 'redisson']).toContain(seen.get('lock:checkout')!.dialect);
      expect(seen.get('lock:orders')).toMatchObject({ dialect: 'redisson' });
      expect(seen.get('lock:job:0000')).toMatchObject({ dialect: 'redis-string' });

      // The collector's view over time: near-expiry before each expiry of the stalled and crashed holds.
      const metrics = await waitFor(async () => {
        const text = await (await fetch(`http://${listen}/metrics`)).text();
        const expired = ['/locks/payments', 'lock:ledger', '/locks/reports', 'lock:export'].every((l) => counter(text, 'lockscope_lease_expirations_total', l) >= 1);
        return expired ? text : false;
      }, { timeoutMs: 30_000, intervalMs: 500, message: 'lease expirations of the stalled and crashed holds' });
      for (const lock of ['/locks/payments', 'lock:ledger', '/locks/reports', 'lock:export']) {
        expect(counter(metrics, 'lockscope_near_expiry_total', lock), lock).toBeGreaterThanOrEqual(1);
      }
      // Alerts: the lapsed leases open lease_expired; the slow dependency (and the hot locks) push P95 over the 50 ms line.
      // Read from the store, firing or already resolved: lease_expired resolves as soon as
      // the lock is taken again, so the two are not always open at the same moment.
      await waitFor(async () => {
        const alerts = (await lockctl(['alerts', '--all', '--limit', '1000', '--config', configPath])) as Array<{ rule: string }>;
        const rules = new Set(alerts.map((a) => a.rule));
        return rules.has('lease_expired') && rules.has('slow_acquisition');
      }, { timeoutMs: 30_000, intervalMs: 1_000, message: 'lease_expired and slow_acquisition alerts recorded' });
      // Locks that renew properly never come near expiry.
      expect(counter(metrics, 'lockscope_near_expiry_total', '/locks/cron-leader')).toBe(0);
      expect(counter(metrics, 'lockscope_near_expiry_total', 'lock:orders')).toBe(0);

      // The store keeps how the crashed holder's hold ended.
      const history = (await waitFor(async () => {
        const h = (await lockctl(['history', '/locks/reports', '--config', configPath])) as { holds: Array<{ endReason: string }> };
        return h.holds.some((x) => x.endReason === 'expired') ? h : false;
      }, { timeoutMs: 15_000, intervalMs: 500, message: 'the crashed hold recorded as expired' })) as { holds: Array<{ endReason: string }> };
      expect(history.holds.some((x) => x.endReason === 'expired')).toBe(true);
    } finally {
      if (simulator) {
        simulator.kill('SIGINT');
        await Promise.race([simulator.exited, new Promise((r) => setTimeout(r, 8_000))]);
        await simulator.stop();
      }
      await collector?.stop(6_000);
      await redis.stop();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
