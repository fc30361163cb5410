import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backoff } from './backoff.js';
import { DeadlineError, waitAtMost, withDeadline } from './deadline.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('withDeadline / waitAtMost', () => {
  it('settles like the promise when it is in time, and leaves no timer behind', async () => {
    vi.useFakeTimers();
    await expect(withDeadline(Promise.resolve(7), 1_000)).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('boom')), 1_000)).rejects.toThrow('boom');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with a DeadlineError carrying the message once the time is up', async () => {
    vi.useFakeTimers();
    const late = withDeadline(new Promise(() => undefined), 500, 'no connection within 500 ms');
    const check = expect(late).rejects.toSatisfy((e: unknown) => e instanceof DeadlineError && e.message === 'no connection within 500 ms');
    await vi.advanceTimersByTimeAsync(499);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await check;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waitAtMost never rejects: not on failure, not on time-out', async () => {
    vi.useFakeTimers();
    await expect(waitAtMost(Promise.reject(new Error('boom')), 100)).resolves.toBeUndefined();
    const waiting = waitAtMost(new Promise(() => undefined), 100);
    await vi.advanceTimersByTimeAsync(100);
    await expect(waiting).resolves.toBeUndefined();
  });
});

describe('Backoff', () => {
  it('stays within its bounds, grows over attempts, and starts small again after reset()', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 5_000 });
    const delays = Array.from({ length: 30 }, () => backoff.next());
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(5_000);
    }
    // Decorrelated jitter is random per step, but the trend is up: late attempts wait far longer than early ones.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(delays.slice(20))).toBeGreaterThan(mean(delays.slice(0, 3)) * 5);
    backoff.reset();
    expect(backoff.next()).toBeLessThan(500);
  });
});
