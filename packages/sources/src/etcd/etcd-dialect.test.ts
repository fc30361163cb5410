import { describe, expect, it } from 'vitest';
import {
  classifyKey,
  compileOverrides,
  groupEntries,
  holdOf,
  normalisePrefixes,
  parseHoldId,
  prefixRangeEnd,
  safeValue,
  toEntry,
  waitersOf,
  VALUE_KEEP_BYTES,
} from './etcd-dialect.js';

const kv = (key: string | Buffer, createRevision: number, lease = '0', value: string | Buffer = '') => ({
  key: Buffer.isBuffer(key) ? key : Buffer.from(key),
  create_revision: String(createRevision),
  mod_revision: String(createRevision),
  lease,
  value: Buffer.isBuffer(value) ? value : Buffer.from(value),
});

describe('etcd dialect recognition', () => {
  it('takes <lock>/<lease hex> under that same lease as a mutex contender, anything else as a single-key lock', () => {
    const lease = 0x694d8c0a1b2c3d4en;
    expect(classifyKey(Buffer.from('/locks/job/694d8c0a1b2c3d4e'), lease)).toEqual({ dialect: 'etcd-mutex', lockKey: Buffer.from('/locks/job') });
    // Hex-looking name, but not the key's own lease: a single-key lock named like that.
    expect(classifyKey(Buffer.from('/locks/deadbeef'), 0x1234n).dialect).toBe('etcd-lease-key');
    expect(classifyKey(Buffer.from('/locks/deadbeef'), 0n).dialect).toBe('etcd-lease-key');
    expect(classifyKey(Buffer.from('/locks/cron'), 0x1234n)).toEqual({ dialect: 'etcd-lease-key', lockKey: Buffer.from('/locks/cron') });
  });

  it('lets config globs force a dialect', () => {
    const overrides = compileOverrides({ '/locks/legacy/*': 'etcd-mutex', '/locks/job/*': 'etcd-lease-key' });
    expect(classifyKey(Buffer.from('/locks/legacy/abc'), 0n, overrides).dialect).toBe('etcd-mutex');
    expect(classifyKey(Buffer.from('/locks/job/1f'), 0x1fn, overrides).dialect).toBe('etcd-lease-key');
    // Any contender name, not only hex: a 19-digit decimal lease id, a hostname.
    expect(classifyKey(Buffer.from('/locks/legacy/7587869839430237448'), 0n, overrides)).toEqual({ dialect: 'etcd-mutex', lockKey: Buffer.from('/locks/legacy') });
    expect(classifyKey(Buffer.from('/locks/legacy/worker-7.example'), 0n, overrides).dialect).toBe('etcd-mutex');
    // A glob naming the lock itself (the contenders' parent) forces its contenders too.
    const byLock = compileOverrides({ '/locks/election/jobs': 'etcd-mutex' });
    expect(classifyKey(Buffer.from('/locks/election/jobs/12'), 0n, byLock)).toEqual({ dialect: 'etcd-mutex', lockKey: Buffer.from('/locks/election/jobs') });
    expect(classifyKey(Buffer.from('/locks/election/other/12'), 0n, byLock).dialect).toBe('etcd-lease-key');
  });

  it('takes npm etcd3 Election keys (<name>/<lease id in decimal>) as contenders of one election', () => {
    const lease = 7587869839430237448n;
    expect(classifyKey(Buffer.from(`/locks/election/jobs/${lease}`), lease)).toEqual({ dialect: 'etcd-mutex', lockKey: Buffer.from('/locks/election/jobs') });
    // Decimal digits of another lease: not this key's own id.
    expect(classifyKey(Buffer.from('/locks/election/jobs/12345'), lease).dialect).toBe('etcd-lease-key');
    const groups = groupEntries([
      toEntry(kv(`/locks/election/jobs/${lease}`, 7, lease.toString(), 'cand-1'), null),
      toEntry(kv(`/locks/election/jobs/${lease + 1n}`, 9, (lease + 1n).toString(), 'cand-2'), null),
      toEntry(kv(`/locks/election/jobs/${lease + 2n}`, 8, (lease + 2n).toString(), 'cand-3'), null),
    ]);
    expect(groups.size).toBe(1);
    const [group] = [...groups.values()];
    expect(holdOf(group!, undefined)).toMatchObject({ token: '7', holder: `${lease.toString(16)} (cand-1)` });
    expect(waitersOf(group!)!.map((w) => w.holder)).toEqual([`${(lease + 2n).toString(16)} (cand-3)`, `${(lease + 1n).toString(16)} (cand-2)`]);
  });

  it('orders contenders by create_revision: lowest holds, the rest wait in order', () => {
    const groups = groupEntries([
      toEntry(kv('/locks/job/c', 30, '12'), 3000),
      toEntry(kv('/locks/job/a', 10, '10'), null),
      toEntry(kv('/locks/job/b', 20, '11'), 2000),
    ]);
    expect(groups.size).toBe(1);
    const group = [...groups.values()][0]!;
    const hold = holdOf(group, { ttlMs: 10_000, remainingMs: 9_000 });
    expect(hold).toMatchObject({ holder: 'a', token: '10', ttlMs: 10_000, remainingMs: 9_000, lease: 'a' });
    expect(hold!.holdId).toBe(`${Buffer.from('/locks/job/a').toString('hex')}@10`);
    expect(waitersOf(group)!.map((w) => [w.holder, w.token, w.since])).toEqual([
      ['b', '20', 2000],
      ['c', '30', 3000],
    ]);
  });

  it('shows election values next to the lease and single-key holders by value, or lease when binary', () => {
    const election = [...groupEntries([toEntry(kv('/el/leader/a', 5, '10', 'node-1'), null)]).values()][0]!;
    expect(holdOf(election, undefined)!.holder).toBe('a (node-1)');
    const python = [...groupEntries([toEntry(kv('/locks/p', 7, '255', Buffer.from([0xff, 0x00, 0x81, 0xfe])), null)]).values()][0]!;
    expect(holdOf(python, undefined)).toMatchObject({ holder: 'lease ff', holdId: '@7', token: '7', ttlMs: null });
    const noLease = [...groupEntries([toEntry(kv('/locks/q', 8), null)]).values()][0]!;
    expect(holdOf(noLease, undefined)).toMatchObject({ holder: '(empty)', ttlMs: null, remainingMs: null, lease: null });
  });

  it('shows values safely: control characters escaped, 1 MB cut, binary refused', () => {
    expect(safeValue(toEntry(kv('/k', 1, '0', 'a\nb\u001b[31m'), null))).toBe('a\\x0ab\\x1b[31m');
    const big = toEntry(kv('/k', 1, '0', Buffer.alloc(1024 * 1024, 'x')), null);
    expect(big.value.length).toBe(VALUE_KEEP_BYTES);
    expect(safeValue(big)).toBe(`${'x'.repeat(80)}… (1048576 bytes)`);
    expect(safeValue(toEntry(kv('/k', 1, '0', Buffer.from([0xc3, 0x28])), null))).toBeNull();
    // A multi-byte character cut by the kept prefix is dropped, not turned into garbage.
    const euro = toEntry(kv('/k', 1, '0', Buffer.from('€'.repeat(400))), null);
    expect(safeValue(euro)).toMatch(/^€{80}… \(1200 bytes\)$/);
  });

  it('parses hold ids and computes prefix ranges', () => {
    expect(parseHoldId('2f6c@42')).toEqual({ ownerKey: Buffer.from([0x2f, 0x6c]), createRevision: 42n });
    expect(parseHoldId('@7')).toEqual({ ownerKey: null, createRevision: 7n });
    expect(parseHoldId('token-abc')).toBeNull();
    expect(prefixRangeEnd(Buffer.from('/locks/'))).toEqual(Buffer.from('/locks0'));
    expect(prefixRangeEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(normalisePrefixes(['/locks/', '/locks/a/', '/other/', '/locks/'])).toEqual([Buffer.from('/locks/'), Buffer.from('/other/')]);
  });
});
