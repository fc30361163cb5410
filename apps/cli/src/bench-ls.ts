// Benchmark: `lockctl ls --json` over 10,000 live locks (5,000 etcd mutexes,
// 5,000 Redis SET NX PX locks), including process start, against real etcd
// and Redis on loopback. Run: npx tsx apps/cli/src/bench-ls.ts [runs]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd, startRedis, type EtcdServer, type RedisServer } from '@lockscope/testing';
import { createEtcdSource, createRedisSource } from '@lockscope/sources';
import { LOCKCTL_BIN, runLockctl } from './run-lockctl.js';

const PER_BACKEND = 5_000;
const RUNS = Number(process.argv[2] ?? 5);
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function etcdJson<T>(endpoint: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** 5,000 mutex locks `/locks/bench/<i>/<lease hex>`, 128 puts per transaction (etcd's default txn limit). */
async function fillEtcd(etcd: EtcdServer): Promise<void> {
  const endpoint = etcd.endpoints[0]!;
  const { ID } = await etcdJson<{ ID: string }>(endpoint, '/v3/lease/grant', { TTL: 600 });
  const leaseHex = BigInt(ID).toString(16);
  for (let start = 0; start < PER_BACKEND; start += 128) {
    const success = [];
    for (let i = start; i < Math.min(PER_BACKEND, start + 128); i++) {
      success.push({ request_put: { key: b64(`/locks/bench/${i}/${leaseHex}`), value: '', lease: ID } });
    }
    await etcdJson(endpoint, '/v3/kv/txn', { success });
  }
}

/** 5,000 `SET lock:bench:<i> <token> NX PX 600000` through redis-cli --pipe (RESP). */
async function fillRedis(redis: RedisServer): Promise<void> {
  const resp = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  let input = '';
  for (let i = 0; i < PER_BACKEND; i++) input += resp(['SET', `lock:bench:${i}`, `tok-${i.toString(16).padStart(8, '0')}`, 'NX', 'PX', '600000']);
  await redis.cli(['--pipe'], { stdin: input });
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
};

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/cli'], { cwd: repoRoot, stdio: 'pipe' });
  const dir = mkdtempSync(join(tmpdir(), 'lockctl-bench-'));
  const [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
  try {
    const config = join(dir, 'lockscope.yaml');
    writeFileSync(
      config,
      `sources:
  - { name: etcd-main, kind: etcd, endpoints: ["${etcd.endpoints[0]}"], prefixes: ["/locks/"] }
  - { name: redis-main, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }
`,
    );
    const fillStarted = performance.now();
    await Promise.all([fillEtcd(etcd), fillRedis(redis)]);
    console.log(`created ${PER_BACKEND} etcd + ${PER_BACKEND} Redis locks in ${Math.round(performance.now() - fillStarted)} ms`);

    const startup: number[] = [];
    for (let i = 0; i < RUNS; i++) startup.push((await runLockctl(['--version'])).ms);

    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await runLockctl(['ls', '--json', '--config', config], { timeoutMs: 60_000 });
      if (run.code !== 0) throw new Error(`lockctl ls failed (exit ${run.code}): ${run.stderr}`);
      let rows: { source: string; held: boolean }[];
      try {
        rows = JSON.parse(run.stdout) as typeof rows;
      } catch {
        throw new Error(`lockctl ls --json printed ${run.stdout.length} characters that are not one JSON array`);
      }
      const etcdRows = rows.filter((r) => r.source === 'etcd-main' && r.held).length;
      const redisRows = rows.filter((r) => r.source === 'redis-main' && r.held).length;
      if (etcdRows !== PER_BACKEND || redisRows !== PER_BACKEND) throw new Error(`expected ${PER_BACKEND} + ${PER_BACKEND} held locks, got ${etcdRows} + ${redisRows}`);
      times.push(run.ms);
      console.log(`run ${i + 1}: ${rows.length} locks, ${(run.stdout.length / 1e6).toFixed(1)} MB JSON, ${Math.round(run.ms)} ms`);
    }
    // CPU seconds the lockctl process used (user + system), which a busy shared machine inflates far less than wall time.
    const cpu: number[] = [];
    if (existsSync('/usr/bin/time')) {
      for (let i = 0; i < RUNS; i++) {
        const out = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, LOCKCTL_BIN, 'ls', '--json', '--config', config], { encoding: 'utf8', maxBuffer: 1 << 30 });
        const m = /CPU ([\d.]+) ([\d.]+)/.exec(out.stderr);
        if (m) cpu.push((Number(m[1]) + Number(m[2])) * 1000);
      }
    }
    const s = stats(times);
    const st = stats(startup);
    console.log(`lockctl --version (process start only): min ${Math.round(st.min)} ms, median ${Math.round(st.median)} ms`);
    console.log(`lockctl ls --json over ${2 * PER_BACKEND} locks, ${RUNS} runs: min ${Math.round(s.min)} ms, median ${Math.round(s.median)} ms, max ${Math.round(s.max)} ms wall (target < 2000 ms)`);
    if (cpu.length > 0) console.log(`  CPU time of the lockctl process (user + sys): median ${Math.round(stats(cpu).median)} ms`);
    console.log(`  machine load average during the run: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores`);
    // Where the time goes: the sources' own list() in this process (no start-up, no output).
    const etcdSource = createEtcdSource({ name: 'etcd-main', kind: 'etcd', endpoints: etcd.endpoints, prefixes: ['/locks/'] });
    const redisSource = createRedisSource({ name: 'redis-main', kind: 'redis', url: redis.url, patterns: ['lock:*'], enableNotifications: false });
    try {
      for (const source of [etcdSource, redisSource]) {
        const t: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const started = performance.now();
          await source.list();
          t.push(performance.now() - started);
        }
        const ls = stats(t);
        console.log(`  in-process ${source.name}.list(): min ${Math.round(ls.min)} ms, median ${Math.round(ls.median)} ms`);
      }
    } finally {
      await Promise.allSettled([etcdSource.stop(), redisSource.stop()]);
    }
    if (s.median >= 2_000) process.exitCode = 1;
  } finally {
    await Promise.allSettled([etcd.stop(), redis.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
