// Everything a backend returns (lock names, holders, tokens, error text) may
// carry bytes chosen by whoever wrote the key. Printed raw, an ESC can rewrite
// the operator's screen, a CR can overwrite a line, a bidi override can make
// one name look like another. Every such value goes through quoteForTerminal.
import { utf8SequenceLength } from '@lockscope/core';

export interface QuoteOptions {
  /** Longest result in characters (escapes count by their printed length); longer values end in an ellipsis. */
  maxLength?: number;
}

export const DEFAULT_MAX_QUOTED_LENGTH = 200;
const ELLIPSIS = '…';

const NAMED: Record<number, string> = { 0x00: '\\0', 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r', 0x1b: '\\e' };

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/**
 * Characters that change how the terminal or the reader interprets what
 * follows rather than standing for themselves: bidi embeddings, overrides and
 * isolates, zero-width and invisible formatting marks, line/paragraph separators.
 */
function isInvisibleFormatting(cp: number): boolean {
  return (
    cp === 0x061c ||
    cp === 0x00ad ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2069) ||
    cp === 0xfeff ||
    (cp >= 0xfff9 && cp <= 0xfffb)
  );
}

/** One printable token per input character, so shortening never splits an escape. */
function tokensOfString(text: string): string[] {
  const tokens: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        tokens.push(text.slice(i, i + 2));
        i++;
        continue;
      }
      tokens.push(`\\u${hex4(unit)}`);
      continue;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) {
      tokens.push(`\\u${hex4(unit)}`);
      continue;
    }
    const named = NAMED[unit];
    if (named !== undefined) tokens.push(named);
    else if (unit < 0x20 || unit === 0x7f) tokens.push(`\\x${hex2(unit)}`);
    else if (unit >= 0x80 && unit <= 0x9f) tokens.push(`\\u${hex4(unit)}`);
    else if (isInvisibleFormatting(unit)) tokens.push(`\\u${hex4(unit)}`);
    else tokens.push(text[i]!);
  }
  return tokens;
}

function tokensOfBytes(bytes: Uint8Array): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      tokens.push(`\\x${hex2(bytes[i]!)}`);
      i += 1;
    } else {
      tokens.push(...tokensOfString(Buffer.from(bytes.subarray(i, i + len)).toString('utf8')));
      i += len;
    }
  }
  return tokens;
}

/**
 * Makes a backend value safe to print: control characters become C-style
 * escapes (`\e`, `\r`, `\0`, `\x07`), C1 controls, bidi and invisible
 * formatting characters become `\uXXXX`, bytes that are not valid UTF-8 (when
 * given raw bytes) become `\xNN`, and values longer than maxLength are cut at
 * a character boundary and end in "…". null/undefined print as "-".
 * Backslashes are left alone so names that already carry `\xNN` escapes
 * (from displayKey) read the same as the raw-byte form.
 */
export function quoteForTerminal(value: string | Uint8Array | null | undefined, { maxLength = DEFAULT_MAX_QUOTED_LENGTH }: QuoteOptions = {}): string {
  if (value === null || value === undefined) return '-';
  const tokens = typeof value === 'string' ? tokensOfString(value) : tokensOfBytes(value);
  let out = '';
  let length = 0;
  const limit = Math.max(1, maxLength);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const tokenLength = token.length === 2 && token.charCodeAt(0) >= 0xd800 && token.charCodeAt(0) <= 0xdbff ? 1 : token.length;
    const isLast = i === tokens.length - 1;
    // Keep room for the ellipsis unless this token finishes the value.
    if (length + tokenLength > (isLast ? limit : limit - 1)) return `${out}${ELLIPSIS}`;
    out += token;
    length += tokenLength;
  }
  return out;
}

/**
 * JSON.stringify escapes C0 controls but leaves DEL, C1 controls and bidi
 * characters raw, which a terminal still interprets. Escaping them as \uXXXX
 * keeps the text valid JSON with the same parsed values.
 */
export function terminalSafeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g, (c) => `\\u${hex4(c.charCodeAt(0))}`);
}
