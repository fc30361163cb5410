import { describe, expect, it } from 'vitest';
import { shorten, visible } from './untrusted';

describe('visible', () => {
  it('shows control and bidi characters as escapes and leaves markup as plain text', () => {
    expect(visible('a\u0000b\u0007c')).toBe('a\\u{0000}b\\u{0007}c');
    expect(visible('evil\u202eexe.txt')).toBe('evil\\u{202e}exe.txt');
    expect(visible('<script>x</script>')).toBe('<script>x</script>');
    expect(visible('zero\u200bwidth')).toBe('zero\\u{200b}width');
    expect(visible('naïve ✓ 日本')).toBe('naïve ✓ 日本');
  });
});

describe('shorten', () => {
  it('keeps short text and cuts long text to max characters with head and tail', () => {
    expect(shorten('short', 10)).toBe('short');
    const out = shorten('a'.repeat(50) + 'END', 20);
    expect(Array.from(out)).toHaveLength(20);
    expect(out).toContain('…');
    expect(out.endsWith('END')).toBe(true);
  });

  it('never splits a surrogate pair', () => {
    const out = shorten('😀'.repeat(30), 9);
    expect(Array.from(out)).toHaveLength(9);
    // encodeURIComponent throws URIError on a lone surrogate.
    expect(() => encodeURIComponent(out)).not.toThrow();
  });
});
