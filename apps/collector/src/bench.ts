// `npm run bench:collector`: drives real lock traffic against a real Redis and a
// real etcd on this machine, runs the real collector in this process over a
// SQLite store, and prints sustained acquisitions/s observed and persisted and
// the lag from a lock change to its row in the store.
//
// The load generator runs in child processes so it does not share the
// collector's event loop. Each acquisition carries its send time in its token
// (Redis value / etcd value), and the collector's flush hook sees the commit
// time of the row that records it: lag = commit time - send time, on one clock.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '@lockscope/core';
import { openStore } from '@lockscope/store';
import { startChild, startEtcd, startRedis } from '@lockscope/testing';
import { Collector } from './collector.js';
import { createSource } from './create-source.js';
import { inlineWriter } from './store-writer.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    'redis-rate': { type: 'string', default: '5000' },
    'etcd-rate': { type: 'string', default: '1000' },
    locks: { type: 'string', default: '2000' },
    'hold-ms': { type: 'string', default: '50' },
    'inline-writes': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const redisRate = Number(values['redis-rate']);
const etcdRate = Number(values['etcd-rate']);
const lockCount = Number(values.locks);
const holdMs = Number(values['hold-ms']);
const repoRoot = new URL('../../..', import.meta.url).pathname;

// The load generators, bundled beside this file (dist/load/*.js): lean clients of
// their own, so that generating the load takes little of the two cores the
// collector is measured on (see each file for why).
const redisDriver = fileURLToPath(new URL('./load/redis-load.js', import.meta.url));
const etcdDriver = fileURLToPath(new URL('./load/etcd-load.js', import.meta.url));

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** User + system CPU seconds of processes (Linux /proc; 0 for a pid that is gone). */
function cpuSecondsOf(pids: (number | undefined)[]): number {
  let ticks = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-bench-'));
  const [redis, etcd] = await Promise.all([startRedis(), startEtcd()]);
  const storeUrl = `file:${join(dir, 'bench.db')}`;
  const config = parseConfig(
    [
      `store: { url: "${storeUrl}" }`,
      'sources:',
      `  - { name: etcd-bench, kind: etcd, endpoints: ${JSON.stringify(etcd.endpoints)}, prefixes: ["/bench/"] }`,
      `  - { name: redis-bench, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }`,
      // The default flush interval (50 ms), as a user gets it.
      'collector: { listen: "127.0.0.1:0" }',
    ].join('\n'),
  );
  const store = await openStore({ url: storeUrl });
  await store.migrate();
  const lags: Record<string, number[]> = { 'redis-bench': [], 'etcd-bench': [] };
  const persisted: Record<string, number> = { 'redis-bench': 0, 'etcd-bench': 0 };
  const unread: Record<string, number> = { 'redis-bench': 0, 'etcd-bench': 0 };
  const collector = new Collector({
    config,
    store,
    createSource,
    ...(values['inline-writes'] ? { writer: inlineWriter(store) } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
    onFlushed: ({ committedAt, events }) => {
      for (const e of events) {
        if (e.type !== 'acquired') continue;
        persisted[e.source] = (persisted[e.source] ?? 0) + 1;
        // Holds released before the collector could read them count, but carry no send time.
        const m = e.holder ? /^b(\d+)-/.exec(e.holder) : null;
        if (m) lags[e.source]?.push(committedAt - Number(m[1]));
        else unread[e.source] = (unread[e.source] ?? 0) + 1;
      }
    },
  });
  await collector.start();
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const writingBefore = collector.writerBusyMs();
  const started = Date.now();
  console.log(`bench: ${seconds} s of traffic, Redis ${redisRate}/s and etcd ${etcdRate}/s over ${lockCount} locks each, each held ${holdMs} ms, SQLite store, 2 drivers in child processes`);
  const drivers = [
    { source: 'redis-bench', child: startChild(process.execPath, [redisDriver, redis.url, String(redisRate), String(seconds), String(lockCount), String(holdMs)], { cwd: repoRoot }) },
    { source: 'etcd-bench', child: startChild(process.execPath, [etcdDriver, etcd.endpoints.join(','), String(etcdRate), String(seconds), String(lockCount), String(holdMs)], { cwd: repoRoot }) },
  ];
  // The load generators stand in for clients on other machines; here they share two cores
  // with the collector, so they run at a lower priority (nice 10) and take what is left.
  // The achieved rate is what the table reports.
  for (const d of drivers) if (d.child.process.pid !== undefined) setPriority(d.child.process.pid, 10);
  // Everything else on the machine competes with the collector for 2 cores: measure it too.
  const others: { name: string; pids: (number | undefined)[] }[] = [
    { name: 'redis-server', pids: [redis.child.process.pid] },
    { name: 'etcd', pids: [etcd.members[0]!.child.process.pid] },
    { name: 'drivers', pids: drivers.map((d) => d.child.process.pid) },
  ];
  const othersBefore = others.map((o) => cpuSecondsOf(o.pids));
  const othersCpu = others.map(() => 0);
  const driven: Record<string, { sent: number; ok: number }> = {};
  // Drivers are sampled just before they exit; the servers at the end of the drain.
  // A driver that has exited has no /proc entry left: keep each one's last reading.
  const driverLast = drivers.map(() => 0);
  const driverCpu = setInterval(() => {
    drivers.forEach((d, i) => (driverLast[i] = Math.max(driverLast[i]!, cpuSecondsOf([d.child.process.pid]))));
    othersCpu[2] = driverLast.reduce((a, b) => a + b, 0);
  }, 100);
  for (const d of drivers) {
    const code = await d.child.exited;
    const line = d.child.output().trim().split('\n').at(-1) ?? '';
    if (code !== 0) throw new Error(`${d.source} driver failed: ${d.child.output()}`);
    driven[d.source] = JSON.parse(line) as { sent: number; ok: number };
  }
  // Drain: wait until the collector has persisted every acquisition or 10 s pass.
  const drainDeadline = Date.now() + 10_000;
  while (Date.now() < drainDeadline && Object.keys(driven).some((s) => (persisted[s] ?? 0) < driven[s]!.ok)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  clearInterval(driverCpu);
  const elapsed = (Date.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const elu = performance.eventLoopUtilization(eluBefore);
  const writingMs = writingBefore === null ? null : collector.writerBusyMs()! - writingBefore;
  for (let i = 0; i < 2; i++) othersCpu[i] = cpuSecondsOf(others[i]!.pids) - othersBefore[i]!;
  await collector.stop();
  console.log('');
  console.log('source        acquisitions  persisted  unread  dropped  acq/s (driven)  p50 lag  p95 lag  p99 lag');
  for (const source of ['redis-bench', 'etcd-bench']) {
    const d = driven[source]!;
    const l = lags[source]!.sort((a, b) => a - b);
    const row = [
      source.padEnd(12),
      String(d.ok).padStart(13),
      String(persisted[source]).padStart(10),
      String(unread[source]).padStart(7),
      String(Math.max(0, d.ok - persisted[source]!)).padStart(8),
      (d.ok / seconds).toFixed(0).padStart(15),
      `${percentile(l, 0.5)} ms`.padStart(8),
      `${percentile(l, 0.95)} ms`.padStart(8),
      `${percentile(l, 0.99)} ms`.padStart(8),
    ];
    console.log(row.join(' '));
  }
  const rows = await store.prisma.event.count();
  console.log(`machine: load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 cores; other work on the machine skews these figures)`);
  console.log(`\nstore: ${rows} events, ${await store.prisma.hold.count()} holds written; collector CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s over ${elapsed.toFixed(1)} s wall`);
  console.log(
    `collector threads busy: main ${(elu.utilization * 100).toFixed(0)}%` +
      (writingMs !== null ? `, store worker writing ${((writingMs / 1000 / elapsed) * 100).toFixed(0)}% of the time` : '') +
      `; CPU of the rest of the machine over the run: ${others.map((o, i) => `${o.name} ${othersCpu[i]!.toFixed(1)} s`).join(', ')}`,
  );
  await store.close();
  await Promise.all([redis.stop(), etcd.stop()]);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
