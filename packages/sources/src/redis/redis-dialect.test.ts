import { describe, expect, it } from 'vitest';
import {
  estimateGrantedTtl,
  keyCandidates,
  parseRedissonHash,
  recogniseLock,
  redisGlobMatch,
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
