// The real collector binary as a child process, with what the fault tests need:
// its /healthz and /metrics, its memory, kill -9 and SIGTERM.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, waitFor, type Child } from '@lockscope/testing';

const repoRoot = new URL('../..', import.meta.url).pathname;
export const COLLECTOR_BIN = join(repoRoot, 'apps/collector/bin/lockscope-collector.js');
export const LOCKCTL_BIN = join(repoRoot, 'apps/cli/bin/lockctl.js');

export interface Health {
  status: number;
  ok: boolean;
  sources: { name: string; connected: boolean; lastError: string | null }[];
  store: unknown;
}

export class CollectorProcess {
  private constructor(
    readonly child: Child,
    readonly port: number,
    /** Output of earlier processes on this config (kept across restarts for the report). */
    private readonly earlier: string,
  ) {}

  static start(configPath: string, port: number, cwd: string, earlier = ''): CollectorProcess {
    const child = startChild(process.execPath, [COLLECTOR_BIN, '--config', configPath], { cwd });
    return new CollectorProcess(child, port, earlier);
  }

  /** All output of this collector and the ones before it. */
  output(): string {
    return this.earlier + this.child.output();
  }

  async health(): Promise<Health | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as Omit<Health, 'status'>;
      return { status: res.status, ...body };
    } catch {
      return null;
    }
  }

  async metric(name: string): Promise<number | null> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
    } catch {
      return null;
    }
  }

  /** Resident memory in MB (/proc), null once the process is gone. */
  rssMb(): number | null {
    try {
      const status = readFileSync(`/proc/${this.child.process.pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return kb ? Number(kb) / 1024 : null;
    } catch {
      return null;
    }
  }

  /** Waits until every source reports connected; returns the wall time it first did. */
  async waitConnected(sources: string[], timeoutMs = 30_000): Promise<number> {
    await waitFor(
      async () => {
        if (this.child.process.exitCode !== null) throw new Error(`the collector exited (${this.child.process.exitCode}):\n${this.child.output().slice(-3000)}`);
        const h = await this.health();
        return h !== null && sources.every((name) => h.sources.find((s) => s.name === name)?.connected);
      },
      { timeoutMs, intervalMs: 50, message: `the collector's sources ${sources.join(', ')} to connect\n${this.child.output().slice(-3000)}` },
    );
    return Date.now();
  }

  /**
   * Waits for the line the collector logs once its HTTP server is up, before it starts
   * any source: until then it certainly observes nothing. Returns the wall time seen.
   */
  async waitServing(timeoutMs = 30_000): Promise<number> {
    await waitFor(() => this.child.output().includes('/healthz and '), { timeoutMs, intervalMs: 10, message: `the collector to serve /healthz\n${this.child.output().slice(-3000)}` });
    return Date.now();
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.child.exited;
  }

  /** SIGTERM; resolves with the exit code and how long the stop took. */
  async term(): Promise<{ code: number | null; ms: number }> {
    const at = Date.now();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    const code = await this.child.exited;
    clearTimeout(timer);
    return { code, ms: Date.now() - at };
  }

  /** A new collector process on the same config and port. */
  restart(configPath: string, cwd: string): CollectorProcess {
    return CollectorProcess.start(configPath, this.port, cwd, this.output());
  }
}
