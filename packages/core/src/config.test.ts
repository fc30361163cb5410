import { describe, expect, it } from 'vitest';
import { formatDuration, parseConfig, parseListenAddress } from './config.js';
import { isLockscopeError } from './errors.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isLockscopeError(error, 'BAD_CONFIG')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a BAD_CONFIG error');
}

describe('parseConfig', () => {
  it('parses the documented example and fills defaults', () => {
    const config = parseConfig(`
store: { url: "file:./.lockscope/lockscope.db" }
sources:
  - { name: etcd-main, kind: etcd, endpoints: ["http://127.0.0.1:2379"], prefixes: ["/locks/"] }
  - { name: redis-main, kind: redis, url: "redis://127.0.0.1:6379/0", patterns: ["lock:*"] }
alerts: { nearExpiryRatio: 0.8, slowAcquisitionP95Ms: 50, webhooks: [] }
`);
    expect(config.sources.map((s) => s.name)).toEqual(['etcd-main', 'redis-main']);
    expect(config.alerts.nearExpiryRatio).toBe(0.8);
    expect(config.collector.listen).toBe('127.0.0.1:9464');
    expect(config.alerts.slowAcquisitionWindow).toBe(300_000);
  });

  it('names an unknown key with its path and line', () => {
    const message = errorOf(() => parseConfig('sources:\n  - name: a\n    kind: redis\n    url: redis://x\n    patterns: ["*"]\n    patern: "typo"\n'));
    expect(message).toContain('sources[0] (line 2): unknown key "patern"');
  });

  it('names a wrong type with its path and line', () => {
    const message = errorOf(() => parseConfig('alerts:\n  nearExpiryRatio: "high"\n'));
    expect(message).toMatch(/alerts\.nearExpiryRatio \(line 2\): .*number/);
  });

  it('rejects a bad endpoint URL and a duplicate source name', () => {
    expect(errorOf(() => parseConfig('sources:\n  - { name: e, kind: etcd, endpoints: ["not a url"], prefixes: ["/l/"] }\n'))).toContain('sources[0].endpoints[0]');
    expect(
      errorOf(() =>
        parseConfig('sources:\n  - { name: r, kind: redis, url: "redis://a", patterns: ["*"] }\n  - { name: r, kind: redis, url: "redis://b", patterns: ["*"] }\n'),
      ),
    ).toContain('duplicate source name "r"');
  });

  it('reports invalid YAML with a position', () => {
    expect(errorOf(() => parseConfig('sources: [\n', 'x.yaml'))).toMatch(/^x\.yaml:\d+:\d+: invalid YAML/);
  });

  it('lets DATABASE_URL override the store URL', () => {
    expect(parseConfig('{}', 'f', { DATABASE_URL: 'postgresql://db/x' }).store.url).toBe('postgresql://db/x');
  });
  it('refuses a YAML alias bomb with a sentence instead of expanding it', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = performance.now();
    const message = errorOf(() => parseConfig(`${lines.join('\n')}\n`, 'bomb.yaml'));
    expect(message).toMatch(/^bomb\.yaml: invalid YAML: Excessive alias count .* \(at most 100 alias expansions are allowed\)\.$/);
    expect(performance.now() - started).toBeLessThan(2_000);
    // A few aliases, as people use them for repeated blocks, still work.
    const config = parseConfig(
      'sources:\n  - { name: a, kind: etcd, endpoints: &ep ["http://127.0.0.1:2379"], prefixes: ["/l/"] }\n  - { name: b, kind: etcd, endpoints: *ep, prefixes: ["/m/"] }\n',
    );
    expect(config.sources[1]).toMatchObject({ name: 'b', endpoints: ['http://127.0.0.1:2379'] });
  });

  it('refuses an empty document (an empty file, /dev/null, only comments) instead of running on defaults', () => {
    expect(errorOf(() => parseConfig('', 'e.yaml'))).toBe('e.yaml is empty; write `{}` in it to run on the defaults.');
    expect(errorOf(() => parseConfig('# nothing but a comment\n\n', 'e.yaml'))).toBe('e.yaml is empty; write `{}` in it to run on the defaults.');
    expect(parseConfig('{}').sources).toEqual([]);
  });

  it('bounds every duration: absurd values are a range error naming the path, never a 1 ms timer', () => {
    expect(errorOf(() => parseConfig('collector:\n  flushInterval: 1e308\n'))).toContain('collector.flushInterval (line 2): a duration from 5ms to 1m');
    expect(errorOf(() => parseConfig('collector:\n  flushInterval: 99999999999999h\n'))).toContain('collector.flushInterval (line 2): a duration from 5ms to 1m');
    expect(errorOf(() => parseConfig('collector: { flushInterval: -5 }\n'))).toContain('collector.flushInterval');
    expect(errorOf(() => parseConfig('collector: { flushInterval: .inf }\n'))).toContain('collector.flushInterval');
    expect(errorOf(() => parseConfig('collector: { retention: 1e308 }\n'))).toContain('collector.retention (line 1): a duration from 1m to 3650d');
    expect(errorOf(() => parseConfig('alerts: { sourceDownAfter: 99999d }\n'))).toContain('alerts.sourceDownAfter (line 1): a duration from 100ms to 7d');
    expect(errorOf(() => parseConfig('alerts: { overrides: [{ match: "*", maxHoldMs: 1e308 }] }\n'))).toContain('alerts.overrides[0].maxHoldMs');
    expect(errorOf(() => parseConfig('alerts: { slowAcquisitionP95Ms: 1e308, highContentionWaiters: 1e12 }\n'))).toMatch(
      /alerts\.slowAcquisitionP95Ms \(line 1\): a number from 0\.001 to 86400000\n {2}alerts\.highContentionWaiters \(line 1\): a number from 1 to 1000000/,
    );
    expect(errorOf(() => parseConfig('collector: { storeStallAfter: 1e308, maxBufferedRows: 1e300 }\n'))).toMatch(
      /collector\.maxBufferedRows \(line 1\): a number from 1000 to 100000000[\s\S]*collector\.storeStallAfter \(line 1\): a duration from 1s to 1d|collector\.storeStallAfter \(line 1\): a duration from 1s to 1d[\s\S]*collector\.maxBufferedRows \(line 1\): a number from 1000 to 100000000/,
    );
    const config = parseConfig('collector: { flushInterval: 250ms, retention: 30d }\nalerts: { sourceDownAfter: 1.5m }\n');
    expect(config.collector.flushInterval).toBe(250);
    expect(config.collector.retention).toBe(30 * 86_400_000);
    expect(config.alerts.sourceDownAfter).toBe(90_000);
  });

  it('checks collector.listen is host:port with a real port', () => {
    expect(errorOf(() => parseConfig('collector: { listen: "127.0.0.1:99999" }\n', 'l.yaml'))).toBe(
      'l.yaml is not valid:\n  collector.listen (line 1): host:port like 127.0.0.1:9464 or [::1]:9464, port 0-65535',
    );
    expect(errorOf(() => parseConfig('collector: { listen: "9464" }\n'))).toContain('collector.listen (line 1)');
    expect(parseConfig('collector: { listen: "[::1]:0" }\n').collector.listen).toBe('[::1]:0');
    expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseListenAddress('0.0.0.0:65535')).toEqual({ host: '0.0.0.0', port: 65_535 });
    expect(parseListenAddress('127.0.0.1:65536')).toBeNull();
    expect(parseListenAddress('127.0.0.1:')).toBeNull();
  });

  it('formats range ends as the shortest exact duration', () => {
    expect([formatDuration(5), formatDuration(60_000), formatDuration(90_000), formatDuration(3650 * 86_400_000)]).toEqual(['5ms', '1m', '90s', '3650d']);
  });
});
