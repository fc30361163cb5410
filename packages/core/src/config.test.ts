import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
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
});
