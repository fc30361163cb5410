import { describe, expect, it } from 'vitest';
import type { SourceHealth } from '@lockscope/sources';
import { adviseOn } from './check.js';

const redis = (over: Partial<SourceHealth>): SourceHealth => ({
  name: 'redis-main',
  kind: 'redis',
  connected: true,
  lastError: null,
  lastEventAt: null,
  lastSeenAt: null,
  ...over,
});

describe('lockctl sources advice', () => {
  it('names the exact notification setting the collector asks for, without keyevent channels', () => {
    const advice = adviseOn(redis({ notifications: 'off' }));
    expect(advice.problem).toMatch(/keyspace notifications are off/);
    expect(advice.fix).toContain('CONFIG SET notify-keyspace-events Kg$hlzxe');
  });

  it('says nothing is wrong with a connected source whose notifications are on', () => {
    expect(adviseOn(redis({ notifications: 'on' }))).toEqual({ problem: null, fix: null });
  });

  it('points at the endpoints of an unreachable etcd source', () => {
    const advice = adviseOn({ ...redis({ connected: false, lastError: 'connect ECONNREFUSED 127.0.0.1:1' }), kind: 'etcd' });
    expect(advice).toEqual({ problem: 'connect ECONNREFUSED 127.0.0.1:1', fix: expect.stringContaining('endpoints') });
  });
});
