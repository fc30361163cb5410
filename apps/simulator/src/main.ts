import { isLockscopeError, LockscopeError } from '@lockscope/core';
import { parseSimulatorArgs, USAGE } from './options.js';
import { Simulator } from './simulator.js';

async function main(): Promise<number> {
  const options = parseSimulatorArgs(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const fencingToken = process.env.LOCKSCOPE_FENCING_TOKEN;
  if (options.reportFencing && !fencingToken) {
    throw new LockscopeError('BAD_REQUEST', '--report-fencing needs LOCKSCOPE_FENCING_TOKEN: the token the collector was started with.');
  }
  const simulator = new Simulator(options, fencingToken ? { fencingToken } : {});
  let stopping: Promise<void> | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const stop = (why: string) => {
    if (stopping) return;
    process.stdout.write(`simulator: stopping (${why}), releasing held locks\n`);
    stopping = simulator.stop().finally(resolveDone);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await simulator.start();
  let durationTimer: NodeJS.Timeout | undefined;
  if (options.durationMs !== null) durationTimer = setTimeout(() => stop(`--duration ${options.durationMs} ms`), options.durationMs);
  await done;
  clearTimeout(durationTimer);
  const s = simulator.stats();
  const total = Object.values(s.acquisitions).reduce((a, b) => a + b, 0);
  process.stdout.write(`simulator: stopped after ${total} acquisitions, ${s.stalls} stalls, ${s.crashes} crashes, ${s.fencingRefusals} refused stale writes\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`lockscope-simulator: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = isLockscopeError(error, 'BAD_REQUEST') ? 2 : 1;
  },
);
