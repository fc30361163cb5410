import { createHash } from 'node:crypto';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/**
 * The display name of a key: the key itself when it is valid UTF-8 (it may
 * still hold control characters: renderers must escape), otherwise each byte
 * that is not part of valid UTF-8 written as \xNN.
 */
export function displayKey(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    let out = '';
    let i = 0;
    while (i < bytes.length) {
      const len = utf8SequenceLength(bytes, i);
      if (len > 0) {
        out += Buffer.from(bytes.subarray(i, i + len)).toString('utf8');
        i += len;
      } else {
        out += `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
        i += 1;
      }
    }
    return out;
  }
}

/** Prefix of a key's exact form: `hex:` and the key bytes in lowercase hex. */
export const HEX_NAME_PREFIX = 'hex:';

/**
 * The exact form of a key, for the rare names that display the same as another key's
 * (byte 0xFF and the text `\xff` both display as `\xff`). Plain ASCII, safe on a terminal.
 */
export function hexName(bytes: Uint8Array): string {
  return `${HEX_NAME_PREFIX}${toHex(bytes)}`;
}

/** The bytes of an exact `hex:…` form, or null when the name is not one. */
export function parseHexName(name: string): Uint8Array | null {
  const m = /^hex:((?:[0-9a-fA-F]{2})+)$/.exec(name);
  return m ? fromHex(m[1]!) : null;
}

/** Past this many \xNN escapes in one name, only "all bytes" and "all text" are tried. */
const MAX_ESCAPES_COMBINED = 4;

/**
 * Every key a user may mean by `name`: each key whose display name is exactly `name`,
 * and for a `hex:…` form the key with those bytes too (a key may itself be named
 * `hex:ff`). One element for an ordinary name; more when the name holds \xNN escapes
 * (each may be a raw byte or the four characters) or is a hex form. Callers that
 * find more than one of these keys must ask which, never pick one.
 */
export function keysForName(name: string): Uint8Array[] {
  const out = new Map<string, Uint8Array>();
  const add = (key: Uint8Array) => out.set(toHex(key), key);
  const exact = parseHexName(name);
  if (exact) add(exact);
  // displayKey writes only bytes that are not valid UTF-8 as \xNN, and those are >= 0x80.
  const pieces = name.split(/(\\x[89a-f][0-9a-f])/);
  const escapes = pieces.length >> 1;
  const combos: number[] = [];
  // Raw bytes first: a name with escapes usually came from a binary key.
  if (escapes <= MAX_ESCAPES_COMBINED) for (let mask = (1 << escapes) - 1; mask >= 0; mask--) combos.push(mask);
  else combos.push(-1, 0);
  for (const mask of combos) {
    const parts: Buffer[] = [];
    pieces.forEach((piece, i) => {
      const escapeIndex = (i - 1) >> 1;
      const asByte = i % 2 === 1 && (mask === -1 || (mask & (1 << escapeIndex)) !== 0);
      parts.push(asByte ? Buffer.from([parseInt(piece.slice(2), 16)]) : Buffer.from(piece, 'utf8'));
    });
    const key = new Uint8Array(Buffer.concat(parts));
    if (displayKey(key) === name) add(key);
  }
  return [...out.values()];
}

/**
 * The keys a source looks up for `name`: a `hex:` form exactly, otherwise every key
 * displayed as `name`. Callers that let a person pick by name resolve ambiguity
 * first (keysForName) and then look up the exact form.
 */
export function lookupKeys(name: string): Uint8Array[] {
  const exact = parseHexName(name);
  return exact ? [exact] : keysForName(name);
}

/** Length of the valid UTF-8 sequence at i, or 0 when the byte there starts none. */
export function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let len: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) [len, min] = [2, 0x80];
  else if (c >= 0xe0 && c <= 0xef) [len, min] = [3, 0x800];
  else if (c >= 0xf0 && c <= 0xf4) [len, min] = [4, 0x10000];
  else return 0;
  if (i + len > b.length) return 0;
  let cp = c & (0xff >> (len + 1));
  for (let k = 1; k < len; k++) {
    const cc = b[i + k]!;
    if ((cc & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/**
 * Stable lock id from (source, raw key bytes): URL-safe, fixed length, the same
 * in every process, so the collector, API and CLI agree without a lookup.
 */
export function lockId(source: string, key: Uint8Array): string {
  return createHash('sha256').update(source).update('\0').update(key).digest('base64url').slice(0, 22);
}
