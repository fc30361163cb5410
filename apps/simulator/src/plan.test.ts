import { describe, expect, it } from 'vitest';
import { parseSimulatorArgs } from './options.js';
import { activeContenders, planFleet, Schedule, skuWeights, WindowSchedule } from './plan.js';
import { createRng } from './random.js';

const plan = (argv: string[]) => planFleet(parseSimulatorArgs(argv)!);

describe('seeded scheduling', () => {
  it('replays the same stall, crash and slow-dependency times for the same seed', () => {
    const a = plan(['--seed', '7']);
    const b = plan(['--seed', '7']);
    const times = (p: ReturnType<typeof plan>) => [0, 1, 2, 3].map((k) => [p.stall.times!.at(k), p.crash.times!.at(k), p.slow.windows!.starts.at(k)]);
    expect(times(a)).toEqual(times(b));
    expect(times(plan(['--seed', '8']))).not.toEqual(times(a));
  });

  it('keeps each incident within ±15 % of its period and in increasing order', () => {
    const s = new Schedule(3, 'stall', 8_000, 90_000);
    expect(s.at(0)).toBeGreaterThanOrEqual(8_000 * 0.85);
    expect(s.at(0)).toBeLessThanOrEqual(8_000 * 1.15);
    for (let k = 1; k < 50; k++) {
      expect(s.at(k)).toBeGreaterThan(s.at(k - 1));
      expect(Math.abs(s.at(k) - (8_000 + k * 90_000))).toBeLessThanOrEqual(90_000 * 0.15 + 1);
    }
    expect(s.nextAfter(s.at(3))).toBe(s.at(4));
    expect(s.nextAfter(-1)).toBe(s.at(0));
  });

  it('answers window membership at the edges', () => {
    const w = new WindowSchedule(1, 'slow', 5_000, 60_000, 25_000);
    const start = w.starts.at(0);
    expect(w.contains(start - 1)).toBe(false);
    expect(w.contains(start)).toBe(true);
    expect(w.contains(start + 24_999)).toBe(true);
    expect(w.contains(start + 25_000)).toBe(false);
    expect(w.contains(w.starts.at(1) + 10)).toBe(true);
  });

  it('gives each worker stream its own sequence, reproducibly', () => {
    const draw = (seed: number, stream: string) => Array.from({ length: 5 }, createRng(seed, stream).next);
    expect(draw(1, 'a')).toEqual(draw(1, 'a'));
    expect(draw(1, 'a')).not.toEqual(draw(1, 'b'));
    expect(draw(1, 'a')).not.toEqual(draw(2, 'a'));
    for (const x of draw(99, 'x')) expect(x >= 0 && x < 1).toBe(true);
  });

  it('draws integers inside their bounds and weighted picks in proportion', () => {
    const rng = createRng(5, 'w');
    const counts = [0, 0, 0];
    for (let i = 0; i < 6_000; i++) {
      const n = rng.int(2, 4);
      expect(n === 2 || n === 3 || n === 4).toBe(true);
      counts[rng.weighted([6, 3, 1])]!++;
    }
    expect(counts[0]! / 6_000).toBeCloseTo(0.6, 1);
    expect(counts[2]! / 6_000).toBeCloseTo(0.1, 1);
  });
});

describe('load shape', () => {
  it('ramps inventory contenders from a quarter of the peak to the peak and back over one cycle', () => {
    expect(activeContenders(0, 60_000, 8)).toBe(2);
    expect(activeContenders(30_000, 60_000, 8)).toBe(8);
    expect(activeContenders(59_999, 60_000, 8)).toBe(2);
    expect(activeContenders(15_000, 60_000, 8)).toBe(5);
    expect(activeContenders(90_000, 60_000, 8)).toBe(8);
    expect(activeContenders(0, 60_000, 1)).toBe(1);
  });

  it('makes SKU 0 the hottest', () => {
    const w = skuWeights(4);
    expect(w[0]).toBe(1);
    expect([...w].sort((a, b) => b - a)).toEqual(w);
  });
});

describe('planFleet', () => {
  it('names locks under /locks/ and lock: (or the prefix) so the default collector config sees them', () => {
    const p = plan(['--locks', '2']);
    expect(p.leader.lock).toBe('/locks/cron-leader');
    expect(p.inventory.locks).toEqual(['/locks/inventory/sku-0000', '/locks/inventory/sku-0001']);
    expect(p.setnx.locks).toEqual(['lock:job:0000', 'lock:job:0001']);
    expect(p.stall.etcdLock).toBe('/locks/payments');
    expect(p.stall.redisLock).toBe('lock:ledger');
    const q = plan(['--prefix', 'ci7']);
    expect(q.slow.lock).toBe('/locks/ci7/pricing');
    expect(q.fair.lock).toBe('lock:ci7:checkout');
  });

  it('pauses the stalled worker past both leases with room for the next holder to write first', () => {
    const p = plan([]);
    expect(p.stall.pauseMs).toBeGreaterThan(p.stall.ttlSec * 1000 + 2_000);
    expect(p.stall.pauseMs).toBeGreaterThan(p.stall.redisLeaseMs + 2_000);
  });

  it('uses Redisson watchdog defaults: 30 s lease renewed every 10 s', () => {
    const p = plan([]);
    expect(p.redisson.watchdogMs).toBe(30_000);
    expect(p.redisson.renewEveryMs).toBe(10_000);
    expect(p.fair.threadWaitMs).toBe(5_000);
  });
});
