import { describe, expect, it } from 'vitest';
import {
  estimateGrantedTtl,
  keyCandidates,
  parseRedissonHash,
  recogniseKey,
  recogniseLock,
  redisGlobMatch,
  redissonPermitTimeoutKey,
  redissonCompanionName,
  renewingLibraryOf,
  safeText,
  stringHoldId,
  type RawLockState,
} from './redis-dialect.js';

const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';

function state(partial: Partial<RawLockState>): RawLockState {
  return { key: Buffer.from('lock:x'), type: 'none', value: null, hash: null, pttl: -2, queue: [], timeouts: null, fencingToken: null, ...partial };
}

describe('redisGlobMatch', () => {
  it('follows Redis glob rules over raw bytes', () => {
    expect(redisGlobMatch('lock:*', Buffer.from('lock:a'))).toBe(true);
    expect(redisGlobMatch('lock:*', Buffer.from('locks:a'))).toBe(false);
    expect(redisGlobMatch('lock:?', Buffer.from('lock:ab'))).toBe(false);
    expect(redisGlobMatch('lock:[a-c]', Buffer.from('lock:b'))).toBe(true);
    expect(redisGlobMatch('lock:[^a-c]', Buffer.from('lock:b'))).toBe(false);
    expect(redisGlobMatch('lock:\\*', Buffer.from('lock:*'))).toBe(true);
    expect(redisGlobMatch('lock:\\*', Buffer.from('lock:a'))).toBe(false);
    expect(redisGlobMatch('lock:*', Buffer.from([0x6c, 0x6f, 0x63, 0x6b, 0x3a, 0xff, 0x00]))).toBe(true);
  });
});

describe('hold ids and display', () => {
  it('keeps short UTF-8 tokens as they are and hashes huge or binary ones', () => {
    expect(stringHoldId(Buffer.from('tok'))).toBe('tok');
    expect(stringHoldId(Buffer.from([0xff, 0xfe]))).toMatch(/^sha1:[0-9a-f]{40}$/);
    expect(stringHoldId(Buffer.alloc(1 << 20, 0x61))).toMatch(/^sha1:[0-9a-f]{40}$/);
    // A token that itself looks like a hashed id is hashed too, so the two forms never collide.
    expect(stringHoldId(Buffer.from('sha1:abc'))).not.toBe('sha1:abc');
  });

  it('escapes control characters and bad bytes and truncates huge values', () => {
    expect(safeText(Buffer.from('a\nb\x00'))).toBe('a\\x0ab\\x00');
    expect(safeText(Buffer.from([0x61, 0xff]))).toBe('a\\xff');
    const big = safeText(Buffer.alloc(1 << 20, 0x61));
    expect(big.length).toBeLessThan(260);
    expect(big).toContain('(1048576 bytes)');
  });

  it('maps display names with \\xNN escapes back to bytes', () => {
    expect(keyCandidates('lock:\\xff')[0]).toEqual(Buffer.from([0x6c, 0x6f, 0x63, 0x6b, 0x3a, 0xff]));
    expect(keyCandidates('lock:a')).toEqual([Buffer.from('lock:a')]);
    expect(keyCandidates('lock:\\xff')[1]).toEqual(Buffer.from('lock:\\xff'));
    // The exact form is only ever its bytes, so a caller that resolved an ambiguity gets that key.
    expect(keyCandidates('hex:6c6f636b3aff')).toEqual([Buffer.from([0x6c, 0x6f, 0x63, 0x6b, 0x3a, 0xff])]);
  });
});

describe('estimateGrantedTtl', () => {
  it('snaps a PTTL read just after the grant to the round number it came from', () => {
    expect(estimateGrantedTtl(1997, 2)).toBe(2000);
    expect(estimateGrantedTtl(1978, 0)).toBe(2000);
    expect(estimateGrantedTtl(29_990, 6)).toBe(30_000);
    expect(estimateGrantedTtl(1234, 1)).toBe(1240);
    expect(estimateGrantedTtl(1500, 0)).toBe(1500);
    // Never more than the window allows: a TTL that is not round stays close to the read.
    expect(estimateGrantedTtl(1951, 0)).toBe(1960);
    expect(estimateGrantedTtl(1951, 40)).toBe(2000);
  });
});

describe('recogniseLock', () => {
  it('recognises SET NX tokens, Redisson hashes and fair queues, and ignores other shapes', () => {
    expect(recogniseLock(state({ type: 'string', value: Buffer.from('tok'), pttl: 1500 }))).toMatchObject({
      dialect: 'redis-string',
      hold: { holdId: 'tok', holder: 'tok', token: null, remainingMs: 1500 },
      waiters: null,
    });
    expect(recogniseLock(state({ type: 'hash', hash: { [`${uuid}:1`]: Buffer.from('2') }, pttl: 30_000, fencingToken: Buffer.from('7') }))).toMatchObject({
      dialect: 'redisson',
      hold: { holdId: `${uuid}:1`, holder: `${uuid}:1`, token: '7' },
    });
    expect(
      recogniseLock(state({ type: 'hash', hash: { mode: Buffer.from('read'), [`${uuid}:1`]: Buffer.from('1'), [`${uuid}:2`]: Buffer.from('1') }, pttl: 30_000 }))?.hold,
    ).toMatchObject({ holdId: `${uuid}:1,${uuid}:2`, holder: `read: ${uuid}:1, ${uuid}:2` });
    const fair = recogniseLock(
      state({ type: 'none', queue: [Buffer.from(`${uuid}:5`), Buffer.from(`${uuid}:3`)], timeouts: [[`${uuid}:3`, 2000], [`${uuid}:5`, 1000]] }),
    );
    expect(fair).toMatchObject({ dialect: 'redisson-fair', hold: null });
    expect(fair?.waiters?.map((w) => [w.id, w.deadline])).toEqual([
      [`${uuid}:5`, 1000],
      [`${uuid}:3`, 2000],
    ]);
    expect(recogniseLock(state({ type: 'hash', hash: { name: Buffer.from('x') } }))).toBeNull();
    expect(recogniseLock(state({ type: 'hash', hash: { [`${uuid}:1`]: Buffer.from('x') } }))).toBeNull();
    expect(recogniseLock(state({ type: 'set' }))).toBeNull();
    expect(parseRedissonHash({ mode: 'sideways', [`${uuid}:1`]: '1' })).toBeNull();
  });

  it('extracts the lock name from Redisson companion keys', () => {
    expect(redissonCompanionName(Buffer.from('redisson_lock_queue:{lock:f}'))).toEqual(Buffer.from('lock:f'));
    expect(redissonCompanionName(Buffer.from('redisson_lock_timeout:{a{b}}'))).toEqual(Buffer.from('a{b}'));
    expect(redissonCompanionName(Buffer.from('lock:f'))).toBeNull();
  });
});

describe('renewingLibraryOf', () => {
  it('recognises redis-semaphore and redlock tokens, and leaves redis-py and anything else unknown', () => {
    const mutex = Buffer.from('mutex:orders');
    expect(renewingLibraryOf(mutex, Buffer.from('b51c6c94-bddd-4148-836e-216615d03bfe'))).toBe('redis-semaphore');
    expect(renewingLibraryOf(mutex, Buffer.from('b51c6c94-bddd-4148-836e-216615d03bfe-worker-7'))).toBe('redis-semaphore');
    // A UUID outside redis-semaphore's key prefix says nothing.
    expect(renewingLibraryOf(Buffer.from('lock:orders'), Buffer.from('b51c6c94-bddd-4148-836e-216615d03bfe'))).toBeNull();
    // redlock v5: randomBytes(16).toString('hex').
    expect(renewingLibraryOf(Buffer.from('lock:orders'), Buffer.from('297da5067dfd997fdd38a92048920aac'))).toBe('redlock');
    // redis-py: uuid1().hex (version 1, RFC 4122 variant); it never renews by itself.
    expect(renewingLibraryOf(Buffer.from('lock:orders'), Buffer.from('857062eaf20e11f19ed202fc00000001'))).toBeNull();
    expect(renewingLibraryOf(Buffer.from('lock:orders'), Buffer.from('tok-7f3a'))).toBeNull();
    expect(recogniseLock(state({ type: 'string', value: Buffer.from('297da5067dfd997fdd38a92048920aac'), pttl: 5_000 }))!.hold).toMatchObject({ renewedBy: 'redlock' });
  });
});

describe('recogniseKey: semaphores and unknown layouts', () => {
  const a = 'b51c6c94-bddd-4148-836e-216615d03bfe';
  const b = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it('reads a redis-semaphore Semaphore as one lock with several holders', () => {
    const lock = recogniseKey(state({ key: Buffer.from('semaphore:pool'), type: 'zset', pttl: 10_000, zset: [[Buffer.from(a), 1_000], [Buffer.from(b), 1_200]] }));
    expect(lock).toMatchObject({ dialect: 'redis-semaphore', waiters: null });
    expect(lock!.hold).toMatchObject({ holders: [b, a], permits: { used: 2, total: null }, remainingMs: 10_000, token: null, holdId: `${b},${a}` });
    expect(lock!.hold!.holder).toBe(`2 permits: ${b}, ${a}`);
  });

  it('counts a MultiSemaphore holder\'s permits (<id>_0 .. <id>_n-1) as one holder', () => {
    const lock = recogniseKey(state({ key: Buffer.from('semaphore:pool'), type: 'zset', pttl: 10_000, zset: [[Buffer.from(`${a}_0`), 1], [Buffer.from(`${a}_1`), 1], [Buffer.from(`${a}_2`), 1], [Buffer.from(b), 2]] }));
    expect(lock!.hold).toMatchObject({ holders: [b, a], permits: { used: 4, total: null } });
    expect(lock!.hold!.holder).toContain(`${a} (3 permits)`);
  });

  it('reads a Redisson RPermitExpirableSemaphore: permits used of the total, holders are permit ids', () => {
    const ids = [Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex'), Buffer.from('0011223344556677', 'hex')];
    const lock = recogniseKey(state({ key: Buffer.from('lock:pool'), type: 'string', value: Buffer.from('3'), pttl: -1, permitTimeouts: [[ids[0]!, 1_000], [ids[1]!, 922337203685477]] }));
    expect(lock).toMatchObject({ dialect: 'redisson-semaphore' });
    expect(lock!.hold).toMatchObject({ permits: { used: 2, total: 5 }, holders: ['0011223344556677', 'a1b2c3d4e5f60718293a4b5c6d7e8f90'], remainingMs: null });
    expect(lock!.hold!.holder).toMatch(/^2 of 5 permits: /);
    // No permit taken: a free semaphore, not a lock held by "5".
    expect(recogniseKey(state({ key: Buffer.from('lock:pool'), type: 'string', value: Buffer.from('5'), permitTimeouts: [] }))).toMatchObject({ dialect: 'redisson-semaphore', hold: null });
    expect(redissonPermitTimeoutKey(Buffer.from('lock:pool')).toString()).toBe('{lock:pool}:timeout');
  });

  it('keeps what recogniseLock knows, and lists any other layout as unknown with its type instead of dropping it', () => {
    expect(recogniseKey(state({ type: 'string', value: Buffer.from('tok'), pttl: 5_000 }))).toMatchObject({ dialect: 'redis-string', hold: { holder: 'tok' } });
    expect(recogniseKey(state({ type: 'hash', hash: { [`${uuid}:1`]: Buffer.from('1') } }))).toMatchObject({ dialect: 'redisson' });
    for (const type of ['hash', 'set', 'list', 'stream', 'zset']) {
      const lock = recogniseKey(state({ type, hash: type === 'hash' ? { name: Buffer.from('x') } : null, pttl: 2_000, zset: type === 'zset' ? [[Buffer.from('not-a-uuid'), 1]] : undefined }));
      expect(lock, type).toMatchObject({ dialect: 'unknown', keyType: type, waiters: null, hold: { holdId: `unknown:${type}`, token: null, remainingMs: 2_000 } });
      expect(lock!.hold!.holder).toBe(`${type} key (no known lock layout)`);
    }
    // A ZSET named like a semaphore but with other members is not one.
    expect(recogniseKey(state({ key: Buffer.from('semaphore:x'), type: 'zset', zset: [[Buffer.from('worker-1'), 1]] }))).toMatchObject({ dialect: 'unknown' });
    // A key gone between SCAN and the read is no lock at all.
    expect(recogniseKey(state({ type: 'none' }))).toBeNull();
  });
});
