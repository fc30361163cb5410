import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binaries.js';
import { startChild, type Child } from './child.js';
import { freePort } from './ports.js';
import { waitFor } from './wait-for.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  child: Child;
}

export interface EtcdServer {
  /** Client URLs of every member, e.g. http://127.0.0.1:40123 */
  endpoints: string[];
  members: EtcdMember[];
  /** Runs etcdctl against this server and returns stdout (throws on failure). */
  etcdctl(args: string[], options?: { timeoutMs?: number }): Promise<string>;
  /** Spawns a long-running etcdctl (for example `lock`) with this server's endpoints. */
  spawnEtcdctl(args: string[]): Child;
  stopMember(index: number): Promise<void>;
  /** SIGKILL one member (a crash, no graceful leader transfer); resolves when it is gone. */
  killMember(index: number): Promise<void>;
  /** Index in `members` of the current raft leader (asks each member). */
  leaderIndex(): Promise<number>;
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** 1 (default) or 3 for a cluster. */
  members?: 1 | 3;
  /** Server-side compaction off by default so tests control it. */
  extraArgs?: string[];
  /** Extra environment for the etcd processes (e.g. GOMAXPROCS). */
  env?: Record<string, string>;
}

/**
 * Starts a real etcd (one node or a three-member cluster) on free loopback
 * ports with its own data directories. Always call stop() in a finally.
 */
export async function startEtcd({ members = 1, extraArgs = [], env = {} }: StartEtcdOptions = {}): Promise<EtcdServer> {
  const etcdBin = requireBinary('etcd');
  const etcdctlBin = requireBinary('etcdctl');
  const root = mkdtempSync(join(tmpdir(), 'lockscope-etcd-'));
  const specs = [];
  for (let i = 0; i < members; i++) {
    specs.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(root, `m${i}`),
    });
  }
  const clusterToken = `lockscope-${process.pid}-${Date.now()}`;
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const started: EtcdMember[] = specs.map((spec) => ({
    ...spec,
    child: startChild(etcdBin, [
      '--name', spec.name,
      '--data-dir', spec.dataDir,
      '--listen-client-urls', spec.clientUrl,
      '--advertise-client-urls', spec.clientUrl,
      '--listen-peer-urls', spec.peerUrl,
      '--initial-advertise-peer-urls', spec.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', clusterToken,
      '--log-level', 'error',
      ...extraArgs,
    ], { env: { ...process.env, ...env } }),
  }));
  const endpoints = started.map((m) => m.clientUrl);

  const etcdctl = async (args: string[], { timeoutMs = 10_000 } = {}): Promise<string> => {
    const child = startChild(etcdctlBin, [`--endpoints=${endpoints.join(',')}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await child.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (exit ${code}): ${child.output().trim()}`);
    return child.output();
  };

  const stop = async () => {
    // etcd needs no graceful shutdown here: the data dir goes with it.
    await Promise.all(started.map((m) => m.child.stop(200)));
    rmSync(root, { recursive: true, force: true });
  };

  try {
    await waitFor(
      async () => {
        for (const m of started) {
          if (m.child.process.exitCode !== null) {
            throw new Error(`etcd member ${m.name} exited: ${m.child.output().slice(-2000)}`);
          }
        }
        const res = await fetch(`${endpoints[0]}/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        if (!res?.ok) return false;
        const body = (await res.json()) as { health?: string };
        return body.health === 'true';
      },
      { timeoutMs: 30_000, message: `etcd (${members} member${members > 1 ? 's' : ''}) to become healthy` },
    );
  } catch (error) {
    const logs = started.map((m) => `--- ${m.name} ---\n${m.child.output().slice(-1500)}`).join('\n');
    await stop();
    throw new Error(`${(error as Error).message}\n${logs}`);
  }

  return {
    endpoints,
    members: started,
    etcdctl,
    spawnEtcdctl: (args) =>
      startChild(etcdctlBin, [`--endpoints=${endpoints.join(',')}`, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
      }),
    async stopMember(index) {
      const member = started[index];
      if (!member) throw new Error(`no etcd member ${index}`);
      await member.child.stop();
    },
    async killMember(index) {
      const member = started[index];
      if (!member) throw new Error(`no etcd member ${index}`);
      member.child.kill('SIGKILL');
      await member.child.exited;
    },
    async leaderIndex() {
      // `endpoint status` names each member and the leader it follows (IDs as decimal numbers in JSON).
      const out = await etcdctl(['endpoint', 'status', '--write-out=json']);
      const statuses = JSON.parse(out.replace(/:\s*(\d{16,})/g, ':"$1"')) as { Endpoint: string; Status: { header: { member_id: string }; leader: string } }[];
      const leader = statuses.find((s) => s.Status.header.member_id === s.Status.leader);
      const index = leader ? endpoints.indexOf(leader.Endpoint) : -1;
      if (index < 0) throw new Error(`no etcd member reports itself leader: ${out}`);
      return index;
    },
    stop,
  };
}
