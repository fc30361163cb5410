import { describe, expect, it } from 'vitest';
import { RANGES, resolveRange } from './time-range';

const NOW = 1_800_000_000_000;

describe('resolveRange', () => {
  it('reads rolling ranges from the URL', () => {
    for (const key of Object.keys(RANGES) as (keyof typeof RANGES)[]) {
      const r = resolveRange(new URLSearchParams({ range: key }), NOW);
      expect(r).toMatchObject({ key, to: NOW, from: NOW - RANGES[key], rolling: true });
      expect(r.invalid).toBeUndefined();
    }
  });

  it('keeps a custom range fixed and falls back to 1 h with a note when it is broken', () => {
    expect(resolveRange(new URLSearchParams({ range: 'custom', from: '1000', to: '2000' }), NOW)).toEqual({ key: 'custom', from: 1000, to: 2000, rolling: false });
    const broken = resolveRange(new URLSearchParams({ range: 'custom', from: '2000', to: '1000' }), NOW);
    expect(broken).toMatchObject({ key: '1h', rolling: true });
    expect(broken.invalid).toMatch(/not valid/);
    expect(resolveRange(new URLSearchParams({ range: '<img>' }), NOW).invalid).toMatch(/Unknown range/);
    expect(resolveRange(new URLSearchParams(), NOW)).toMatchObject({ key: '1h', from: NOW - 3_600_000 });
  });
});
