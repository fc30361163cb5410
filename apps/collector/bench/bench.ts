// `npm run bench:collector`: drives real lock traffic against a real Redis and a
// real etcd on this machine, runs the real collector in this process over a
// SQLite store, and prints sustained acquisitions/s observed and persisted and
// the lag from a lock change to its row in the store.
//
// The load generators run in child processes so they do not share the collector's
// event loop. Each acquisition carries its send time in its token (Redis value /
// etcd value), and the collector's flush hook sees the commit time of the row that
// records it: lag = commit time - send time, on one clock.
//
// A warm-up run at the same rates comes first (--warmup, 5 s; its tokens start with
// "w"), and the collector is given up to 10 s to write it all before the measured run
// starts. The collector is an agent that runs for days: the first seconds of a process
// go to compiling its hot code (perf showed V8's compiler threads as a quarter of the
// collector's CPU in the first 5 s, about 1% after 10 s), which a 15-second run would
// otherwise count as if it were the steady state.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '@lockscope/core';
import { SUGGESTED_NOTIFY_FLAGS } from '@lockscope/sources';
import { openStore } from '@lockscope/store';
import { startChild, startEtcd, startRedis } from '@lockscope/testing';
import { Collector } from '../src/collector.js';
import { createSource } from '../src/create-source.js';
import { inlineWriter } from '../src/store-writer.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '5' },
    'redis-rate': { type: 'string', default: '5000' },
    'etcd-rate': { type: 'string', default: '1000' },
    locks: { type: 'string', default: '2000' },
    'hold-ms': { type: 'string', default: '50' },
    'inline-writes': { type: 'boolean', default: false },
    /** collector.flushInterval, e.g. 100ms; the config default when not given. */
    'flush-interval': { type: 'string' },
    'etcd-gomaxprocs': { type: 'string', default: '1' },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const redisRate = Number(values['redis-rate']);
const etcdRate = Number(values['etcd-rate']);
const lockCount = Number(values.locks);
const holdMs = Number(values['hold-ms']);
// Bundled to apps/collector/bench/dist/bench.js.
const repoRoot = new URL('../../../..', import.meta.url).pathname;

// The load generators, bundled beside this file (bench/dist/load/*.js): lean clients of
// their own, so that generating the load takes little of the two cores the
// collector is measured on (see each file for why).
const redisDriver = fileURLToPath(new URL('./load/redis-load.js', import.meta.url));
const etcdDriver = fileURLToPath(new URL('./load/etcd-load.js', import.meta.url));

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** User + system CPU seconds of a process or thread from its /proc stat file (0 once it is gone). */
function cpuSecondsAt(statPath: string): number {
  try {
    // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** CPU seconds per thread of this process: main, the store writer, and the rest (V8's GC and compiler threads, libuv). */
function ownThreads(storeThreadId: number | null): { main: number; store: number; other: number } {
  const out = { main: 0, store: 0, other: 0 };
  for (const tid of readdirSync('/proc/self/task')) {
    const cpu = cpuSecondsAt(`/proc/self/task/${tid}/stat`);
    if (Number(tid) === process.pid) out.main += cpu;
    else if (Number(tid) === storeThreadId) out.store += cpu;
    else out.other += cpu;
  }
  return out;
}

interface Driven {
  sent: number;
  ok: number;
  busy: number;
}

const SOURCES = ['redis-bench', 'etcd-bench'] as const;
type SourceName = (typeof SOURCES)[number];

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-bench-'));
  // etcd stands in for a cluster on other machines. With a Go scheduler thread per core it
  // kept spinning for work on the two cores the collector is measured on: 7.0-7.7 s of CPU
  // per measured run instead of 5.8-5.9 s for the same requests with one (GOMAXPROCS=1).
  const [redis, etcd] = await Promise.all([startRedis({ notifyKeyspaceEvents: SUGGESTED_NOTIFY_FLAGS }), startEtcd({ env: { GOMAXPROCS: values['etcd-gomaxprocs'] } })]);
  const storeUrl = `file:${join(dir, 'bench.db')}`;
  const config = parseConfig(
    [
      `store: { url: "${storeUrl}" }`,
      'sources:',
      `  - { name: etcd-bench, kind: etcd, endpoints: ${JSON.stringify(etcd.endpoints)}, prefixes: ["/bench/"] }`,
      `  - { name: redis-bench, kind: redis, url: "${redis.url}", patterns: ["lock:*"] }`,
      // The default flush interval, as a user gets it, unless --flush-interval says otherwise.
      `collector: { listen: "127.0.0.1:0"${values['flush-interval'] ? `, flushInterval: ${JSON.stringify(values['flush-interval'])}` : ''} }`,
    ].join('\n'),
  );
  const store = await openStore({ url: storeUrl });
  await store.migrate();
  const perSource = <T>(make: () => T) => Object.fromEntries(SOURCES.map((s) => [s, make()])) as Record<SourceName, T>;
  const lags = perSource<number[]>(() => []);
  const persisted = perSource(() => 0);
  const unread = perSource(() => 0);
  const warmPersisted = perSource(() => 0);
  let measuredFrom = Infinity;
  /** The two parts of each measured lag: acquisition -> seen by the collector, seen -> committed. */
  const seenLags: number[] = [];
  const storeLags: number[] = [];
  const collector = new Collector({
    config,
    store,
    createSource,
    ...(values['inline-writes'] ? { writer: inlineWriter(store) } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
    onFlushed: ({ committedAt, events }) => {
      for (const e of events) {
        if (e.type !== 'acquired') continue;
        const source = e.source as SourceName;
        const m = e.holder ? /^([bw])(\d+)-/.exec(e.holder) : null;
        if (m?.[1] === 'w' || (!m && e.at < measuredFrom)) {
          warmPersisted[source]++;
          continue;
        }
        persisted[source]++;
        // Holds released before the collector could read them count, but carry no send time.
        if (m) {
          const sentAt = Number(m[2]);
          lags[source].push(committedAt - sentAt);
          // A Redis change is timed at the first notification of its key since the last read,
          // which for a lock taken again at once can be the previous holder's release: never below 0 here.
          seenLags.push(Math.max(0, e.at - sentAt));
          storeLags.push(committedAt - Math.max(e.at, sentAt));
        } else unread[source]++;
      }
    },
  });
  await collector.start();

  const drive = (prefix: string, secs: number) => {
    const args = (target: string, rate: number) => [target, String(rate), String(secs), String(lockCount), String(holdMs), prefix];
    const drivers = [
      { source: 'redis-bench' as const, child: startChild(process.execPath, [redisDriver, ...args(redis.url, redisRate)], { cwd: repoRoot }) },
      { source: 'etcd-bench' as const, child: startChild(process.execPath, [etcdDriver, ...args(etcd.endpoints.join(','), etcdRate)], { cwd: repoRoot }) },
    ];
    // The load generators stand in for clients on other machines; here they share two cores
    // with the collector, so they run at a lower priority (nice 10) and take what is left.
    // The achieved rate is what the table reports.
    for (const d of drivers) if (d.child.process.pid !== undefined) setPriority(d.child.process.pid, 10);
    return drivers;
  };
  const finish = async (drivers: ReturnType<typeof drive>): Promise<Record<SourceName, Driven>> => {
    const driven = perSource<Driven>(() => ({ sent: 0, ok: 0, busy: 0 }));
    for (const d of drivers) {
      const code = await d.child.exited;
      if (code !== 0) throw new Error(`${d.source} load generator failed: ${d.child.output()}`);
      driven[d.source] = JSON.parse(d.child.output().trim().split('\n').at(-1) ?? '') as Driven;
    }
    return driven;
  };
  /** Waits until `count` says every acquisition is written, or 10 s pass; true when all are. */
  const drained = async (driven: Record<SourceName, Driven>, count: Record<SourceName, number>) => {
    const deadline = Date.now() + 10_000;
    const behind = () => SOURCES.some((s) => count[s] < driven[s].ok);
    while (Date.now() < deadline && behind()) await new Promise((r) => setTimeout(r, 100));
    return !behind();
  };

  console.log(
    `bench: Redis ${redisRate}/s and etcd ${etcdRate}/s requested over ${lockCount} locks each, each held ${holdMs} ms, ` +
      `SQLite store, flush interval ${config.collector.flushInterval} ms, etcd GOMAXPROCS=${values['etcd-gomaxprocs']}; ${warmup} s warm-up, then ${seconds} s measured`,
  );
  if (warmup > 0) {
    const warmed = await finish(drive('w', warmup));
    if (!(await drained(warmed, warmPersisted))) console.log('warm-up: the collector had not written all of the warm-up traffic 10 s after it ended');
  }

  measuredFrom = Date.now();
  const storeThread = collector.writerThreadId();
  const threadsBefore = ownThreads(storeThread);
  const eluBefore = performance.eventLoopUtilization();
  const writingBefore = collector.writerBusyMs();
  const drivers = drive('b', seconds);
  // Everything else on the machine competes with the collector for 2 cores: measure it too.
  const servers = [
    { name: 'redis-server', pid: redis.child.process.pid },
    { name: 'etcd', pid: etcd.members[0]!.child.process.pid },
  ];
  const serversBefore = servers.map((s) => cpuSecondsAt(`/proc/${s.pid}/stat`));
  // A driver that has exited has no /proc entry left: keep each one's last reading.
  const driverCpu = drivers.map(() => 0);
  const sampler = setInterval(() => {
    drivers.forEach((d, i) => (driverCpu[i] = Math.max(driverCpu[i]!, cpuSecondsAt(`/proc/${d.child.process.pid}/stat`))));
  }, 100);
  const driven = await finish(drivers);
  clearInterval(sampler);
  const allWritten = await drained(driven, persisted);
  const elapsed = (Date.now() - measuredFrom) / 1000;
  const threadsAfter = ownThreads(storeThread);
  const elu = performance.eventLoopUtilization(eluBefore);
  const writingMs = writingBefore === null ? null : collector.writerBusyMs()! - writingBefore;
  const serversCpu = servers.map((s, i) => cpuSecondsAt(`/proc/${s.pid}/stat`) - serversBefore[i]!);
  await collector.stop();

  console.log('');
  console.log('source        requested/s  acq/s  acquisitions  persisted  unread  dropped  p50 lag  p95 lag  p99 lag');
  for (const source of SOURCES) {
    const d = driven[source];
    const l = lags[source].sort((a, b) => a - b);
    const row = [
      source.padEnd(12),
      String(source === 'redis-bench' ? redisRate : etcdRate).padStart(12),
      (d.ok / seconds).toFixed(0).padStart(6),
      String(d.ok).padStart(13),
      String(persisted[source]).padStart(10),
      String(unread[source]).padStart(7),
      String(Math.max(0, d.ok - persisted[source])).padStart(8),
      `${percentile(l, 0.5)} ms`.padStart(8),
      `${percentile(l, 0.95)} ms`.padStart(8),
      `${percentile(l, 0.99)} ms`.padStart(8),
    ];
    console.log(row.join(' '));
  }
  const split = (l: number[]) => {
    l.sort((a, b) => a - b);
    return [0.5, 0.95, 0.99].map((q) => percentile(l, q)).join(' / ');
  };
  console.log(`where the lag goes (p50 / p95 / p99 ms): acquisition -> seen by the collector ${split(seenLags)}, seen -> committed ${split(storeLags)}`);
  if (!allWritten) console.log('(not every acquisition was written within 10 s of the end: the collector fell behind)');
  const refused = SOURCES.map((s) => driven[s].busy).reduce((a, b) => a + b, 0);
  if (refused > 0) console.log(`(${refused} tries found their lock still held from an earlier round and are not acquisitions)`);
  const acquisitions = SOURCES.map((s) => driven[s].ok).reduce((a, b) => a + b, 0);
  const cpu = {
    main: threadsAfter.main - threadsBefore.main,
    store: threadsAfter.store - threadsBefore.store,
    other: threadsAfter.other - threadsBefore.other,
  };
  const collectorCpu = cpu.main + cpu.store + cpu.other;
  console.log(`machine: load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 cores; other work on the machine skews these figures)`);
  console.log(
    `\ncollector CPU over the measured ${elapsed.toFixed(1)} s: ${collectorCpu.toFixed(1)} s ` +
      `(${((collectorCpu * 1e6) / Math.max(1, acquisitions)).toFixed(0)} us per acquisition): ` +
      `main thread ${cpu.main.toFixed(1)} s (event loop ${(elu.utilization * 100).toFixed(0)}% busy), ` +
      `store thread ${cpu.store.toFixed(1)} s` +
      (writingMs !== null ? ` (writing ${((writingMs / 1000 / elapsed) * 100).toFixed(0)}% of the time)` : '') +
      `, V8 and other threads ${cpu.other.toFixed(1)} s`,
  );
  console.log(
    `rest of the machine: ${servers.map((s, i) => `${s.name} ${serversCpu[i]!.toFixed(1)} s`).join(', ')}, ` +
      `load generators ${drivers.map((d, i) => `${d.source.replace('-bench', '')} ${driverCpu[i]!.toFixed(1)} s`).join(', ')}`,
  );
  console.log(`store: ${await store.prisma.event.count()} events, ${await store.prisma.hold.count()} holds written in all`);
  await store.close();
  await Promise.all([redis.stop(), etcd.stop()]);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
