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
