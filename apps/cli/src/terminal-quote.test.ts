import { describe, expect, it } from 'vitest';
import { quoteForTerminal, terminalSafeJson } from './terminal-quote.js';

// Nothing in the output may be a raw control, C1 or bidi character.
const DANGEROUS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describe('quoteForTerminal', () => {
  it('escapes ESC so a colour or cursor sequence cannot reach the terminal', () => {
    const out = quoteForTerminal('lock\u001b[2J\u001b]0;pwned\u0007');
    expect(out).toBe('lock\\e[2J\\e]0;pwned\\x07');
    expect(out).not.toMatch(DANGEROUS);
  });

  it('escapes CR, LF, TAB and NUL so a value cannot overwrite or split a line', () => {
    expect(quoteForTerminal('a\rb\nc\td\u0000e')).toBe('a\\rb\\nc\\td\\0e');
  });

  it('escapes DEL and C1 controls (CSI U+009B acts like ESC [ on some terminals)', () => {
    expect(quoteForTerminal('x\u007fy\u009b31m')).toBe('x\\x7fy\\u009b31m');
  });

  it('escapes bidi overrides and isolates so one name cannot masquerade as another', () => {
    const out = quoteForTerminal('job\u202Egnp.exe\u2066x\u2069\u200F');
    expect(out).toBe('job\\u202egnp.exe\\u2066x\\u2069\\u200f');
    expect(out).not.toMatch(DANGEROUS);
  });

  it('escapes zero-width characters and lone surrogates', () => {
    expect(quoteForTerminal('a\u200Bb\uFEFF')).toBe('a\\u200bb\\ufeff');
    expect(quoteForTerminal('x\uD800y\uDC00')).toBe('x\\ud800y\\udc00');
  });

  it('writes bytes that are not valid UTF-8 as \\xNN and keeps valid multi-byte text', () => {
    const bytes = new Uint8Array([0x6c, 0xff, 0xc3, 0xa9, 0xe2, 0x28, 0x1b, 0xf0, 0x9f, 0x94, 0x92]);
    expect(quoteForTerminal(bytes)).toBe('l\\xffé\\xe2(\\e🔒');
  });

  it('rejects overlong UTF-8 encodings and encoded surrogates as invalid', () => {
    expect(quoteForTerminal(new Uint8Array([0xc0, 0xaf, 0xed, 0xa0, 0x80]))).toBe('\\xc0\\xaf\\xed\\xa0\\x80');
  });

  it('leaves ordinary text, unicode letters and emoji untouched', () => {
    expect(quoteForTerminal('/locks/billing-cron/694d8a1c')).toBe('/locks/billing-cron/694d8a1c');
    expect(quoteForTerminal('ロック🔒')).toBe('ロック🔒');
  });

  it('shortens very long values with an ellipsis within the limit', () => {
    const out = quoteForTerminal('x'.repeat(1_000_000), { maxLength: 40 });
    expect(out).toBe(`${'x'.repeat(39)}…`);
    expect(quoteForTerminal('abcde', { maxLength: 5 })).toBe('abcde');
    expect(quoteForTerminal('abcdef', { maxLength: 5 })).toBe('abcd…');
  });

  it('never cuts an escape or a surrogate pair in half when shortening', () => {
    expect(quoteForTerminal('abc\u001bdef', { maxLength: 5 })).toBe('abc…');
    expect(quoteForTerminal('ab🔒🔒🔒', { maxLength: 4 })).toBe('ab🔒…');
  });

  it('prints null and undefined as a dash', () => {
    expect(quoteForTerminal(null)).toBe('-');
    expect(quoteForTerminal(undefined)).toBe('-');
  });
});

describe('terminalSafeJson', () => {
  it('escapes controls, C1 and bidi characters but parses back to the same value', () => {
    const value = [{ name: 'a\u001b[31m\u009b\u202e\u2028z', n: 1, v: null }];
    const text = terminalSafeJson(value);
    expect(text).not.toMatch(DANGEROUS);
    expect(JSON.parse(text)).toEqual(value);
  });
});
