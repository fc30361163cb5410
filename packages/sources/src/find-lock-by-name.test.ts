import { displayKey, hexName, isLockscopeError, toHex, type LiveLock } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { findLockByName } from './find-lock-by-name.js';
import type { LockSource } from './source.js';

/** A source holding these keys, answering get() as the real ones do: a hex: form exactly, a name by its display. */
function sourceWith(keys: Buffer[]): LockSource & { asked: string[] } {
  const asked: string[] = [];
  const live = (key: Buffer): LiveLock => ({ source: 'redis-main', key, name: displayKey(key), dialect: 'redis-string', hold: null, waiters: null, at: 0 });
  const get = (name: string) => {
    asked.push(name);
    const exact = name.startsWith('hex:') ? keys.find((k) => hexName(k) === name) : keys.find((k) => displayKey(k) === name);
    return Promise.resolve(exact ? live(exact) : null);
  };
  return { name: 'redis-main', asked, get } as unknown as LockSource & { asked: string[] };
}

const byte = Buffer.from([0x6c, 0x6f, 0x63, 0x6b, 0x3a, 0xff]);
const text = Buffer.from('lock:\\xff');

describe('findLockByName', () => {
  it('asks which key when two keys display as the name, listing their exact forms', async () => {
    const source = sourceWith([byte, text]);
    const error = await findLockByName(source, 'lock:\\xff').then(
      () => null,
      (e: unknown) => e,
    );
    expect(isLockscopeError(error, 'BAD_REQUEST')).toBe(true);
    expect((error as Error).message).toBe(
      [
        'lock:\\xff on redis-main names 2 different keys that display the same; nothing was done. Name one by its exact form:',
        `  ${hexName(byte)}  (raw bytes where the name shows \\xNN)`,
        `  ${hexName(text)}  (the text lock:\\xff as typed)`,
      ].join('\n'),
    );
  });

  it('takes the one key that exists, and hands back its exact form for the release', async () => {
    const found = await findLockByName(sourceWith([text]), 'lock:\\xff');
    expect(found && toHex(found.lock.key)).toBe(text.toString('hex'));
    expect(found?.lookupName).toBe(hexName(text));
    expect(await findLockByName(sourceWith([]), 'lock:\\xff')).toBeNull();
  });

  it('reads an exact form as those bytes, and a plain name with one lookup', async () => {
    const both = sourceWith([byte, text]);
    expect((await findLockByName(both, hexName(byte)))?.lock.key).toEqual(byte);
    const plain = sourceWith([Buffer.from('lock:a')]);
    expect((await findLockByName(plain, 'lock:a'))?.lookupName).toBe('lock:a');
    expect(plain.asked).toEqual(['lock:a']);
  });
});
