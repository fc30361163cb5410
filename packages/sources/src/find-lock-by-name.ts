import { hexName, keysForName, LockscopeError, parseHexName, toHex, type LiveLock } from '@lockscope/core';
import type { LockSource } from './source.js';

export interface FoundLock {
  lock: LiveLock;
  /** The name to hand back to the source (release): the exact `hex:` form when the typed name could mean more than one key. */
  lookupName: string;
}

/**
 * The one lock `name` means on `source`. A name with \xNN escapes, or a `hex:` form, can
 * stand for several keys (byte 0xFF and the text `\xff` display the same); each is read by
 * its exact form, and when more than one exists the person is asked to pick with the exact
 * form: a force-release must never guess. Whatever lets a person pick a lock by name
 * (lockctl show and release, any force-release flow) should look it up here; the message
 * is plain text, quoted by whoever prints it.
 */
export async function findLockByName(source: LockSource, name: string): Promise<FoundLock | null> {
  const keys = keysForName(name);
  if (keys.length <= 1 && parseHexName(name) === null) {
    const lock = await source.get(name);
    return lock ? { lock, lookupName: name } : null;
  }
  const found = (await Promise.all(keys.map((key) => source.get(hexName(key))))).filter((l): l is LiveLock => l !== null);
  if (found.length > 1) throw ambiguousName(source.name, name, found);
  const lock = found[0];
  return lock ? { lock, lookupName: hexName(lock.key) } : null;
}

function ambiguousName(source: string, name: string, locks: LiveLock[]): LockscopeError {
  const typed = toHex(Buffer.from(name, 'utf8'));
  const exact = parseHexName(name);
  const lines = locks.map((lock) => {
    const hex = toHex(lock.key);
    const what = hex === typed ? `the text ${name} as typed` : exact && toHex(exact) === hex ? 'the bytes of the hex form' : 'raw bytes where the name shows \\xNN';
    return `  ${hexName(lock.key)}  (${what})`;
  });
  return new LockscopeError(
    'BAD_REQUEST',
    `${name} on ${source} names ${locks.length} different keys that display the same; nothing was done. Name one by its exact form:\n${lines.join('\n')}`,
    { details: { source, name, candidates: locks.map((l) => hexName(l.key)) } },
  );
}
