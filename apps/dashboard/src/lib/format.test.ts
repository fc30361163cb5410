import { describe, expect, it } from 'vitest';
import { formatMs } from './format';

describe('formatMs', () => {
  it('reads like the rest of the page at every scale (axes included)', () => {
    expect(formatMs(84_596)).toBe('1 m 25 s');
    expect(formatMs(50)).toBe('50 ms');
    expect(formatMs(1_500)).toBe('1.5 s');
    expect(formatMs(120_000)).toBe('2 m');
    expect(formatMs(null)).toBe('—');
  });
});
