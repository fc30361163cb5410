import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alertmanagerPayload, buildBody, fingerprint, lockscopePayload, signBody, slackPayload, type AlertNotification } from './payloads.js';
import { webhookName } from './webhook-delivery.js';

const firing: AlertNotification = {
  id: '42',
  status: 'firing',
  rule: 'near_expiry',
  key: 'near_expiry|abc',
  source: 'redis-main',
  lockId: 'abc',
  lockName: 'lock:<orders>&co',
  startedAt: Date.parse('2026-11-22T04:00:00.000Z'),
  resolvedAt: null,
  value: 0.83,
  threshold: 0.8,
  message: 'Lock "lock:<orders>&co" on redis-main has used 83% of its 2.00 s lease',
  resolution: null,
};
const resolved: AlertNotification = { ...firing, status: 'resolved', resolvedAt: Date.parse('2026-11-22T04:00:01.500Z'), resolution: 'near_expiry resolved: the lease was renewed.' };

describe('webhook payloads', () => {
  it('signs the exact body with HMAC-SHA256 as sha256=<hex>', () => {
    const body = buildBody('lockscope', firing, 'ops', 0);
    const expected = createHmac('sha256', 's3cret').update(Buffer.from(body, 'utf8')).digest('hex');
    expect(signBody('s3cret', body)).toBe(`sha256=${expected}`);
    expect(signBody('other', body)).not.toBe(`sha256=${expected}`);
  });

  it('lockscope format: versioned, ISO times, firing and resolved', () => {
    const f = lockscopePayload(firing, Date.parse('2026-11-22T04:00:00.100Z'));
    expect(f).toMatchObject({ version: 1, event: 'alert.firing', sentAt: '2026-11-22T04:00:00.100Z' });
    expect(f.alert).toMatchObject({ id: '42', rule: 'near_expiry', severity: 'critical', status: 'firing', startedAt: '2026-11-22T04:00:00.000Z', resolvedAt: null, value: 0.83 });
    const r = lockscopePayload(resolved, 0);
    expect(r).toMatchObject({ event: 'alert.resolved', alert: { resolvedAt: '2026-11-22T04:00:01.500Z', resolution: 'near_expiry resolved: the lease was renewed.' } });
  });

  it('alertmanager format: version 4 with status, labels, annotations, startsAt, endsAt, fingerprint', () => {
    const f = alertmanagerPayload(firing, 'ops');
    expect(f).toMatchObject({ version: '4', status: 'firing', receiver: 'ops', groupLabels: { alertname: 'near_expiry' }, truncatedAlerts: 0 });
    const [a] = f.alerts;
    expect(a).toMatchObject({
      status: 'firing',
      labels: { alertname: 'near_expiry', severity: 'critical', source: 'redis-main', lock: 'lock:<orders>&co', lock_id: 'abc' },
      annotations: { summary: firing.message, value: '0.83', threshold: '0.8' },
      startsAt: '2026-11-22T04:00:00.000Z',
      endsAt: '0001-01-01T00:00:00Z',
    });
    expect(a!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const r = alertmanagerPayload(resolved, 'ops');
    expect(r.status).toBe('resolved');
    expect(r.alerts[0]!.endsAt).toBe('2026-11-22T04:00:01.500Z');
    // Same labels, same fingerprint: Alertmanager pairs the resolved with the firing.
    expect(r.alerts[0]!.fingerprint).toBe(a!.fingerprint);
    expect(fingerprint({ a: '1', b: '2' })).toBe(fingerprint({ b: '2', a: '1' }));
    expect(fingerprint({ a: '1' })).not.toBe(fingerprint({ a: '2' }));
  });

  it('slack format escapes markup in lock names', () => {
    const s = slackPayload(firing);
    expect(s.text).toContain('lock:&lt;orders&gt;&amp;co');
    expect(s.text).not.toContain('<orders>');
    expect(s.blocks[0]!.text.text).toBe(s.text);
    expect(slackPayload(resolved).text).toMatch(/^:white_check_mark: \*near_expiry\* resolved/);
  });

  it('webhook names never carry the URL path or query (where Slack keeps its secret)', () => {
    expect(webhookName({ url: 'https://hooks.slack.com/services/T0/B0/SECRET?x=1' }, 2)).toBe('webhook[2]@hooks.slack.com');
    expect(webhookName({ name: 'pager', url: 'https://x/y' }, 0)).toBe('pager');
  });
});
