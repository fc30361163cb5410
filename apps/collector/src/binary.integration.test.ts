import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startChild, startRedis, waitFor, yamlAliasBomb, type RedisServer } from '@lockscope/testing';

const appDir = new URL('..', import.meta.url).pathname;
const bin = join(appDir, 'bin/lockscope-collector.js');

describe('the lockscope-collector binary', () => {
  let dir: string;
  let redis: RedisServer;

  beforeAll(async () => {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: appDir, stdio: 'pipe' });
    dir = mkdtempSync(join(tmpdir(), 'lockscope-bin-'));
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('exits 2 naming the path of an unknown key and of a wrong type', async () => {
    const config = writeConfig('bad.yaml', 'sources:\n  - { name: r, kind: redis, url: "redis://127.0.0.1:1/0", patterns: ["lock:*"], patern: 1 }\nalerts: { nearExpiryRatio: "x" }\n');
    const child = startChild(process.execPath, [bin, '--config', config], { cwd: dir });
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain('sources[0] (line 2): unknown key "patern"');
    expect(child.output()).toContain('alerts.nearExpiryRatio (line 3)');
  });

  /** Runs the binary to its end (or 10 s), for a config it must refuse. */
  async function refused(args: string[]): Promise<string> {
    const child = startChild(process.execPath, [bin, ...args], { cwd: dir });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await child.exited;
    clearTimeout(timer);
    expect(code, `exit code for ${args.join(' ')} (null: killed after 10 s, it hung)\n${child.output()}`).toBe(2);
    // A sentence, not a stack trace.
    expect(child.output()).not.toMatch(/^\s+at /m);
    expect(child.output()).not.toContain('unexpected error');
    return child.output();
  }

  it('refuses hostile and absurd configs with exit 2 and a sentence: no stack trace, no hang, no store in /dev', async () => {
    expect(await refused(['--config', writeConfig('bomb.yaml', yamlAliasBomb())])).toContain('bomb.yaml: invalid YAML: Excessive alias count');
    expect(await refused(['--config', writeConfig('port.yaml', 'collector: { listen: "127.0.0.1:99999" }\n')])).toContain(
      'collector.listen (line 1): host:port like 127.0.0.1:9464 or [::1]:9464, port 0-65535',
    );
    expect(await refused(['--listen', '127.0.0.1:99999', '--config', writeConfig('ok.yaml', '{}\n')])).toContain('--listen takes a host:port');
    expect(await refused(['--config', writeConfig('flush.yaml', 'collector: { flushInterval: 1e308 }\n')])).toContain(
      'collector.flushInterval (line 1): a duration from 5ms to 1m',
    );
    expect(await refused(['--config', '/dev/zero'])).toContain('config file /dev/zero is not a regular file');
    expect(await refused(['--config', '/dev/null'])).toContain('config file /dev/null is not a regular file');
    expect(existsSync('/dev/.lockscope')).toBe(false);
    expect(await refused(['--config', writeConfig('empty.yaml', '')])).toContain('empty.yaml is empty; write `{}` in it to run on the defaults.');
    expect(existsSync(join(dir, '.lockscope'))).toBe(false);
  });

  it('keeps running with unreachable backends, reports them down, and stops on SIGTERM within 5 s after flushing', async () => {
    const port = await freePort();
    const deadPort = await freePort();
    const config = writeConfig(
      'mixed.yaml',
      [
        `store: { url: "file:${join(dir, 'mixed.db')}" }`,
        'sources:',
        `  - { name: etcd-dead, kind: etcd, endpoints: ["http://127.0.0.1:${deadPort}"], prefixes: ["/locks/"] }`,
        `  - { name: redis-dead, kind: redis, url: "redis://127.0.0.1:${deadPort}/0", patterns: ["lock:*"] }`,
        `  - { name: redis-live, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }`,
        `collector: { listen: "127.0.0.1:${port}" }`,
      ].join('\n'),
    );
    const child = startChild(process.execPath, [bin, '--config', config], { cwd: dir });
    try {
      const health = await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!res) return undefined;
        const body = (await res.json()) as { sources: { name: string; connected: boolean; lastError: string | null }[] };
        const live = body.sources.find((s) => s.name === 'redis-live');
        return live?.connected ? { status: res.status, body } : undefined;
      }, { timeoutMs: 20_000, message: `/healthz with the live source up\n${child.output()}` });
      expect(health.status).toBe(503);
      const dead = health.body.sources.filter((s) => s.name.endsWith('-dead'));
      expect(dead.map((s) => s.connected)).toEqual([false, false]);

      await redis.cli(['SET', 'lock:bin-test', 'tok', 'PX', '60000']);
      const metrics = await waitFor(async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return text.includes('lockscope_acquisitions_total{source="redis-live",lock="lock:bin-test"} 1') ? text : undefined;
      }, { message: 'the acquisition in /metrics' });
      expect(metrics).toContain('lockscope_source_up{source="redis-dead"} 0');
      expect(metrics).toContain('lockscope_source_up{source="redis-live"} 1');
      expect(metrics).toMatch(/lockscope_locks_held\{source="redis-live"\} 1/);
      expect(metrics).toContain('lockscope_ingest_lag_seconds');
      expect(metrics).toContain('lockscope_events_ingested_total');
      expect(child.process.exitCode).toBeNull();

      const stopAt = Date.now();
      child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
      expect(Date.now() - stopAt).toBeLessThan(5_000);
    } finally {
      child.kill('SIGKILL');
    }
    // What was buffered is in the store after the stop.
    const { openStore } = await import('@lockscope/store');
    const store = await openStore({ url: `file:${join(dir, 'mixed.db')}` });
    try {
      const lock = await store.prisma.lock.findFirst({ where: { name: 'lock:bin-test' } });
      expect(lock?.held).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('opens a relative file: store beside its config file, not in the working directory, and says so when one is left there', async () => {
    const port = await freePort();
    mkdirSync(join(dir, 'conf'), { recursive: true });
    // Where collectors before this rule put it (resolved against the working directory).
    writeFileSync(join(dir, 'relative.db'), '');
    const config = writeConfig(join('conf', 'relative.yaml'), `store: { url: "file:./relative.db" }\ncollector: { listen: "127.0.0.1:${port}" }\n`);
    // Twice: the second start finds the store the first one made beside the config, and
    // must still point at the one left in the working directory.
    for (const start of [1, 2]) {
      const child = startChild(process.execPath, [bin, '--config', config], { cwd: dir });
      try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status, {
          timeoutMs: 20_000,
          message: `/healthz (start ${start})\n${child.output()}`,
        });
        child.kill('SIGTERM');
        expect(await child.exited).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
      // Where lockctl and the dashboard look for it with the same config.
      expect(existsSync(join(dir, 'conf', 'relative.db'))).toBe(true);
      expect(statSync(join(dir, 'relative.db')).size).toBe(0);
      expect(child.output()).toContain(`an existing store at ${join(dir, 'relative.db')} (the working directory) is not opened`);
    }
  });
});
