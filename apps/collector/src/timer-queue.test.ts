import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimerQueue } from './timer-queue.js';

describe('TimerQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each key once, in deadline order, at its deadline', () => {
    vi.useFakeTimers({ now: 0 });
    const fired: [string, number, number][] = [];
    const q = new TimerQueue((key, dueAt) => fired.push([key, dueAt, Date.now()]));
    q.schedule('b', 200);
    q.schedule('a', 100);
    q.schedule('c', 300);
    vi.advanceTimersByTime(150);
    expect(fired).toEqual([['a', 100, 100]]);
    vi.advanceTimersByTime(1000);
    expect(fired.map((f) => f[0])).toEqual(['a', 'b', 'c']);
    expect(fired.map((f) => f[2])).toEqual([100, 200, 300]);
    expect(q.size).toBe(0);
    q.stop();
  });

  it('re-scheduling replaces the deadline and cancel removes it', () => {
    vi.useFakeTimers({ now: 0 });
    const fired: string[] = [];
    const q = new TimerQueue((key) => fired.push(key));
    q.schedule('x', 100);
    q.schedule('x', 500);
    q.schedule('y', 50);
    q.cancel('y');
    vi.advanceTimersByTime(300);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(fired).toEqual(['x']);
    q.stop();
  });

  it('keeps order over many random deadlines and leaves no timer after stop', () => {
    vi.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    const q = new TimerQueue((_key, dueAt) => fired.push(dueAt));
    const deadlines = Array.from({ length: 500 }, (_, i) => ((i * 7919) % 1000) + 1);
    deadlines.forEach((d, i) => q.schedule(`k${i}`, d));
    vi.advanceTimersByTime(2000);
    expect(fired).toEqual([...deadlines].sort((a, b) => a - b));
    q.schedule('late', 5000);
    q.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
