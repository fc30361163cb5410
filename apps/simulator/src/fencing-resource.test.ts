import { describe, expect, it } from 'vitest';
import { FencingResource, parseRefusalLine, refusalLine } from './fencing-resource.js';

describe('FencingResource', () => {
  it('accepts increasing tokens and repeated writes of the same hold', () => {
    const r = new FencingResource('/locks/payments');
    expect(r.write(41n, 'a', 'x').accepted).toBe(true);
    expect(r.write(41n, 'a', 'y').accepted).toBe(true);
    expect(r.write(44n, 'b', 'z').accepted).toBe(true);
    expect(r.stats()).toMatchObject({ highest: 44n, highestWriter: 'b', accepted: 3, refused: 0, lastValue: 'z' });
  });

  it('refuses a stale token and keeps the newer holder’s value', () => {
    const r = new FencingResource('/locks/payments');
    r.write(44n, 'worker-2', 'new');
    const result = r.write(41n, 'worker-1', 'stale');
    expect(result).toEqual({ accepted: false, token: 41n, highest: 44n, highestWriter: 'worker-2' });
    expect(r.stats()).toMatchObject({ highest: 44n, refused: 1, lastValue: 'new' });
  });

  it('compares tokens beyond 2^53 exactly', () => {
    const r = new FencingResource('big');
    r.write(9007199254740993n, 'b', 'v');
    expect(r.write(9007199254740992n, 'a', 'v').accepted).toBe(false);
  });

  it('prints a refusal line that parses back', () => {
    const r = new FencingResource('/locks/payments');
    r.write(44n, 'w2', 'v');
    const result = r.write(41n, 'w1', 'v');
    if (result.accepted) throw new Error('expected a refusal');
    const line = refusalLine('/locks/payments', result, 'w1');
    expect(line.startsWith('fencing: refused stale token 41 < 44 on /locks/payments')).toBe(true);
    expect(parseRefusalLine(line)).toEqual({ token: 41n, highest: 44n, resource: '/locks/payments' });
    expect(parseRefusalLine('fencing: accepted 4')).toBeNull();
  });
});
