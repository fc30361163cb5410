import { describe, expect, it } from 'vitest';
import { CollectorMetrics } from './metrics.js';

describe('CollectorMetrics', () => {
  it('reads per-lock and per-source figures when scraped, with series only for what happened', async () => {
    const metrics = new CollectorMetrics();
    const locks = [
      { source: 'etcd-main', lock: '/locks/a', acquisitions: 3, expirations: 1, nearExpiries: 2, waiters: 2 },
      { source: 'redis-main', lock: 'lock:"b"', acquisitions: 1, expirations: 0, nearExpiries: 0, waiters: null },
    ];
    metrics.readLocks = () => locks;
    metrics.readHeld = () => new Map([['etcd-main', 1], ['redis-main', 0]]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('lockscope_acquisitions_total{source="etcd-main",lock="/locks/a"} 3');
    expect(text).toContain('lockscope_acquisitions_total{source="redis-main",lock="lock:\\"b\\""} 1');
    expect(text).toContain('lockscope_lease_expirations_total{source="etcd-main",lock="/locks/a"} 1');
    expect(text).not.toContain('lockscope_lease_expirations_total{source="redis-main"');
    expect(text).toContain('lockscope_near_expiry_total{source="etcd-main",lock="/locks/a"} 2');
    expect(text).toContain('lockscope_lock_waiters{source="etcd-main",lock="/locks/a"} 2');
    expect(text).not.toContain('lockscope_lock_waiters{source="redis-main"');
    expect(text).toContain('lockscope_locks_held{source="etcd-main"} 1');
    expect(text).toContain('lockscope_locks_held{source="redis-main"} 0');

    // The next scrape shows the figures as they are then, not added to the last ones.
    locks[0]!.acquisitions = 4;
    locks[0]!.waiters = 0;
    const later = await metrics.registry.metrics();
    expect(later).toContain('lockscope_acquisitions_total{source="etcd-main",lock="/locks/a"} 4');
    expect(later).toContain('lockscope_lock_waiters{source="etcd-main",lock="/locks/a"} 0');
  });
});
