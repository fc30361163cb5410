import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binaries.js';
import { startChild, type Child } from './child.js';
import { freePort } from './ports.js';
import { waitFor } from './wait-for.js';

export interface RedisServer {
  port: number;
  url: string;
  /** The running redis-server (a new one after restart()). */
  readonly child: Child;
  /** Runs redis-cli against this server; returns raw stdout (throws on failure). */
  cli(args: string[], options?: { stdin?: string }): Promise<string>;
  /** `SHUTDOWN NOSAVE`: the server exits and every key is lost (nothing is persisted). */
  shutdownNoSave(): Promise<void>;
  /**
   * A new redis-server on the same port and directory with the same arguments, after
   * SHUTDOWN NOSAVE if it still runs (and `downMs` of downtime): every key is gone and CONFIG
   * SET changes are lost, as after a real crash-restart. Resolves once it answers PING.
   */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** notify-keyspace-events at start; '' leaves notifications off. Default 'KEA'. */
  notifyKeyspaceEvents?: string;
  extraArgs?: string[];
}

/** Starts a real redis-server on a free loopback port with its own directory. */
export async function startRedis({ notifyKeyspaceEvents = 'KEA', extraArgs = [] }: StartRedisOptions = {}): Promise<RedisServer> {
  const serverBin = requireBinary('redis-server');
  const cliBin = requireBinary('redis-cli');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-redis-'));
  const spawnServer = () =>
    startChild(serverBin, [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--notify-keyspace-events', notifyKeyspaceEvents,
      ...extraArgs,
    ]);
  let child = spawnServer();
  const cli = async (args: string[], { stdin }: { stdin?: string } = {}): Promise<string> => {
    const c = startChild(cliBin, ['-h', '127.0.0.1', '-p', String(port), ...args], {
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== undefined) c.process.stdin?.end(stdin);
    const code = await c.exited;
    if (code !== 0) throw new Error(`redis-cli ${args.join(' ')} failed (exit ${code}): ${c.output()}`);
    return c.output();
  };
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = () =>
    waitFor(
      async () => {
        if (child.process.exitCode !== null) throw new Error(`redis-server exited: ${child.output()}`);
        return (await cli(['PING'])).trim() === 'PONG';
      },
      { timeoutMs: 15_000, message: 'redis-server to answer PING' },
    );
  const shutdownNoSave = async () => {
    // redis-cli reports the connection the server closed as an error; the exit is what counts.
    await cli(['SHUTDOWN', 'NOSAVE']).catch(() => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await child.exited;
    clearTimeout(timer);
  };
  try {
    await ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get child() {
      return child;
    },
    cli,
    shutdownNoSave,
    async restart({ downMs = 0 }: { downMs?: number } = {}) {
      if (child.process.exitCode === null && child.process.signalCode === null) await shutdownNoSave();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      child = spawnServer();
      await ready();
    },
    stop,
  };
}
