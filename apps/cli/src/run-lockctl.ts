import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built binary (apps/cli/bin/lockctl.js); tests and the benchmark run exactly what users run. */
export const LOCKCTL_BIN = fileURLToPath(new URL('../bin/lockctl.js', import.meta.url));

export interface LockctlRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs lockctl as a subprocess with no terminal (stdin is a closed pipe). */
export function runLockctl(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<LockctlRun> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOCKCTL_BIN, ...args], {
      cwd: options.cwd,
      env: options.env ?? { ...process.env, LOCKSCOPE_CONFIG: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}
