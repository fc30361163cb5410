import { describe, expect, it } from 'vitest';
import { displayKey, hexName, keysForName, parseHexName, toHex } from './lock-identity.js';

const bytes = (...parts: (string | number[])[]) => new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))));
const hexes = (keys: Uint8Array[]) => keys.map(toHex).sort();

describe('display names that cannot be told apart', () => {
  const rawByte = bytes('lock:', [0xff]);
  const text = bytes('lock:\\xff');

  it('byte 0xFF and the text \\xff display the same, and their hex forms differ', () => {
    expect(displayKey(rawByte)).toBe('lock:\\xff');
    expect(displayKey(text)).toBe('lock:\\xff');
    expect(hexName(rawByte)).toBe('hex:6c6f636b3aff');
    expect(hexName(text)).toBe('hex:6c6f636b3a5c786666');
  });

  it('keysForName gives every key a name may stand for, so a caller can see the ambiguity', () => {
    expect(hexes(keysForName('lock:\\xff'))).toEqual(hexes([rawByte, text]));
    expect(hexes(keysForName('lock:orders'))).toEqual([toHex(bytes('lock:orders'))]);
    // \x41 is never written by displayKey (A is valid UTF-8): only the text.
    expect(hexes(keysForName('lock:\\x41'))).toEqual([toHex(bytes('lock:\\x41'))]);
    // Both escapes as bytes is "é", which displays as é: not a candidate. One byte and one text do display so.
    expect(hexes(keysForName('\\xc3\\xa9'))).toEqual(hexes([bytes('\\xc3\\xa9'), bytes([0xc3], '\\xa9'), bytes('\\xc3', [0xa9])]));
    // Mixed: one escape a byte, one the text; each combination that displays as the name.
    const mixed = bytes('a\\xfe', [0xff]);
    expect(displayKey(mixed)).toBe('a\\xfe\\xff');
    expect(keysForName('a\\xfe\\xff').map(toHex)).toContain(toHex(mixed));
    expect(keysForName('a\\xfe\\xff')).toHaveLength(4);
  });

  it('reads the hex form exactly, and also as the text it is (a key may be named hex:ff)', () => {
    expect(parseHexName('hex:6c6f636b3aff')).toEqual(rawByte);
    expect(parseHexName('hex:6C6F')).toEqual(bytes('lo'));
    for (const notHex of ['hex:', 'hex:f', 'hex:zz', 'lock:ff', ' hex:ff']) expect(parseHexName(notHex), notHex).toBeNull();
    expect(hexes(keysForName('hex:ff'))).toEqual(hexes([bytes([0xff]), bytes('hex:ff')]));
    for (const key of [rawByte, text, bytes('hex:ff'), bytes([0xc3]), bytes('\u001b[2J')]) {
      expect(keysForName(hexName(key)).map(toHex)).toContain(toHex(key));
      expect(keysForName(displayKey(key)).map(toHex)).toContain(toHex(key));
    }
  });

  it('stays cheap for a name full of escapes', () => {
    const many = bytes(...Array.from({ length: 40 }, () => [0xff]));
    const started = performance.now();
    expect(keysForName(displayKey(many)).map(toHex)).toContain(toHex(many));
    expect(performance.now() - started).toBeLessThan(500);
  });
});
