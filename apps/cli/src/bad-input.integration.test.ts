import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { yamlAliasBomb } from '@lockscope/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLockctl } from './run-lockctl.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
let dir: string;

beforeAll(() => {
  // The real bundled binary, as users run it.
  execFileSync('npm', ['run', 'build', '-w', '@lockscope/cli'], { cwd: repoRoot, stdio: 'pipe' });
  dir = mkdtempSync(join(tmpdir(), 'lockctl-bad-input-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs lockctl (killed after 10 s: a hang fails here) and expects exit 2 with one sentence, no stack trace. */
async function usageError(args: string[]): Promise<string> {
  const run = await runLockctl(args, { cwd: dir, timeoutMs: 10_000 });
  expect(run.code, `exit code of lockctl ${args.join(' ')} (null: killed after 10 s, it hung)\n${run.stderr}`).toBe(2);
  expect(run.stderr).toMatch(/^Error: /);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return run.stderr;
}

describe('lockctl with a bad config file', () => {
  it('refuses a YAML alias bomb with exit 2 and a sentence', async () => {
    const stderr = await usageError(['ls', '--config', writeConfig('bomb.yaml', yamlAliasBomb())]);
    expect(stderr).toContain('bomb.yaml: invalid YAML: Excessive alias count indicates a resource exhaustion attack (at most 100 alias expansions are allowed).');
  });

  it('does not hang on /dev/zero, and refuses /dev/null and an empty file without creating a store', async () => {
    expect(await usageError(['ls', '--config', '/dev/zero'])).toContain('config file /dev/zero is not a regular file (a device, FIFO or socket)');
    expect(await usageError(['history', 'lock:x', '--config', '/dev/null'])).toContain('config file /dev/null is not a regular file');
    expect(existsSync('/dev/.lockscope')).toBe(false);
    const empty = writeConfig('empty.yaml', '# nothing yet\n');
    expect(await usageError(['history', 'lock:x', '--config', empty])).toContain(`${empty} is empty; write \`{}\` in it to run on the defaults.`);
    expect(existsSync(join(dir, '.lockscope'))).toBe(false);
  });

  it('names the path of an out-of-range port and of an absurd duration', async () => {
    expect(await usageError(['ls', '--config', writeConfig('port.yaml', 'collector: { listen: "127.0.0.1:99999" }\n')])).toContain(
      'collector.listen (line 1): host:port like 127.0.0.1:9464 or [::1]:9464, port 0-65535',
    );
    expect(await usageError(['ls', '--config', writeConfig('flush.yaml', 'collector:\n  flushInterval: 1e308\n')])).toContain(
      'collector.flushInterval (line 2): a duration from 5ms to 1m',
    );
  });
});

describe('lockctl with bad flags', () => {
  it('exits 2 with a sentence for durations beyond any date, on every duration flag', async () => {
    const config = writeConfig('ok.yaml', `store: { url: "file:${join(dir, 'store.db')}" }\n`);
    expect(await usageError(['alerts', '--since', '99999999999999h', '--config', config])).toContain('--since takes a duration of at most 3650d (got "99999999999999h").');
    expect(await usageError(['alerts', 'silence', '1', '--for', '99999999999999h', '--config', config])).toContain('--for takes a duration of at most 3650d');
    expect(await usageError(['alerts', 'ack', '1', '--silence', '1e400d', '--config', config])).toContain('--silence takes a duration like 30s, 30m, 1h or 2d (got "1e400d").');
    expect(await usageError(['history', 'lock:x', '--limit', '99999999999999999999', '--config', config])).toMatch(/limit/i);
  });
});
