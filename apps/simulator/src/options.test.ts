import { isLockscopeError } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { parseDurationFlag, parseSimulatorArgs, PATTERNS, PROFILE_DEFAULTS } from './options.js';

function parseError(argv: string[]): string {
  try {
    parseSimulatorArgs(argv);
  } catch (error) {
    expect(isLockscopeError(error, 'BAD_REQUEST')).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe('parseSimulatorArgs', () => {
  it('--report-fencing takes the collector URL and the source names for etcd and Redis', () => {
    expect(parseSimulatorArgs([])!.reportFencing).toBeNull();
    expect(parseSimulatorArgs(['--report-fencing', 'http://127.0.0.1:9464'])!.reportFencing).toEqual({ url: 'http://127.0.0.1:9464', sources: { etcd: 'etcd-demo', redis: 'redis-demo' } });
    expect(parseSimulatorArgs(['--report-fencing', 'http://127.0.0.1:9', '--fencing-sources', 'e,r'])!.reportFencing!.sources).toEqual({ etcd: 'e', redis: 'r' });
    expect(parseError(['--report-fencing', 'ftp://x'])).toContain('--report-fencing');
    expect(parseError(['--report-fencing', 'http://127.0.0.1:9', '--fencing-sources', 'only-one'])).toContain('--fencing-sources');
  });

  it('defaults to the demo profile against local etcd and Redis with every pattern', () => {
    const o = parseSimulatorArgs([])!;
    expect(o.profile).toEqual(PROFILE_DEFAULTS.demo);
    expect(o.seed).toBe(1);
    expect(o.etcd).toEqual(['http://127.0.0.1:2379']);
    expect(o.redis).toBe('redis://127.0.0.1:6379/0');
    expect(o.patterns).toEqual([...PATTERNS]);
    expect(o.durationMs).toBeNull();
  });

  it('lets --locks and --rate override the profile without touching the defaults table', () => {
    const o = parseSimulatorArgs(['--profile', 'busy', '--locks', '3', '--rate', '0.5'])!;
    expect(o.profile.name).toBe('busy');
    expect(o.profile.locks).toBe(3);
    expect(o.profile.rate).toBe(0.5);
    expect(o.profile.stall).toEqual(PROFILE_DEFAULTS.busy.stall);
    expect(PROFILE_DEFAULTS.busy.locks).toBe(16);
  });

  it('takes several etcd endpoints, a prefix, a pattern subset in canonical order and a duration', () => {
    const o = parseSimulatorArgs(['--etcd', 'http://127.0.0.1:1,http://127.0.0.1:2', '--prefix', 't-1', '--patterns', 'stall,leader', '--duration', '90s', '--seed', '42'])!;
    expect(o.etcd).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    expect(o.prefix).toBe('t-1');
    expect(o.patterns).toEqual(['leader', 'stall']);
    expect(o.durationMs).toBe(90_000);
    expect(o.seed).toBe(42);
  });

  it('folds any integer seed into 32 bits so negative and huge seeds are usable', () => {
    expect(parseSimulatorArgs(['--seed=-1'])!.seed).toBe(4294967295);
    expect(parseSimulatorArgs(['--seed', '4294967297'])!.seed).toBe(1);
  });

  it('returns null for --help', () => {
    expect(parseSimulatorArgs(['--help'])).toBeNull();
  });

  it.each([
    [['--profile', 'calm'], '--profile must be one of demo, busy, chaos'],
    [['--locks', '0'], '--locks must be a positive integer'],
    [['--locks', '2.5'], '--locks must be a positive integer'],
    [['--rate', 'fast'], '--rate must be a positive number'],
    [['--seed', '1e3'], '--seed must be an integer'],
    [['--etcd', '127.0.0.1:2379'], '--etcd endpoints look like http://'],
    [['--redis', 'http://x'], '--redis must be a redis:// URL'],
    [['--prefix', 'a/b'], '--prefix is letters'],
    [['--prefix', 'a\u0000b'], '--prefix is letters'],
    [['--patterns', 'leader,nope'], 'unknown: nope'],
    [['--duration', 'soon'], '--duration must look like'],
    [['--bogus'], "Unknown option '--bogus'"],
  ])('refuses %j with a message naming the flag and the usage', (argv, fragment) => {
    const message = parseError(argv);
    expect(message).toContain(fragment);
    expect(message).toContain('Usage: lockscope-simulator');
  });

  it('parses duration units', () => {
    expect(parseDurationFlag('500ms')).toBe(500);
    expect(parseDurationFlag('2m')).toBe(120_000);
    expect(parseDurationFlag('3')).toBe(3_000);
  });
});
