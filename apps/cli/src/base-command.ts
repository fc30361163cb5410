import { Command, Errors, Flags } from '@oclif/core';
import { exitCodeFor } from './exit-codes.js';
import { loadLockctlConfig, type LockctlConfig } from './lockctl-config.js';
import { quoteForTerminal, terminalSafeJson } from './terminal-quote.js';
import { isLockscopeErrorLike } from './lockscope-error-like.js';

/** Quotes each line of a message (config errors span lines) so backend text cannot drive the terminal. */
export function safeMessage(message: string): string {
  return message
    .split('\n')
    .map((line) => quoteForTerminal(line, { maxLength: 2_000 }))
    .join('\n');
}

/**
 * What every lockctl command shares: --config, the config lookup, and the one
 * error handler that turns failures into a sentence on stderr and a
 * documented exit code (and `{ "error": { code, message } }` on stdout with --json).
 */
export abstract class LockctlCommand extends Command {
  static override baseFlags = {
    config: Flags.string({
      char: 'c',
      description: 'lockscope.yaml to use (default: LOCKSCOPE_CONFIG, ./lockscope.yaml, then ~/.config/lockscope/lockscope.yaml)',
      helpGroup: 'GLOBAL',
    }),
  };

  private loaded: LockctlConfig | null = null;

  protected lockscopeConfig(flag: string | undefined): LockctlConfig {
    this.loaded ??= loadLockctlConfig(flag);
    return this.loaded;
  }

  /** Prints JSON that is safe on a terminal and byte-for-byte parseable by scripts. */
  override logJson(json: unknown): void {
    process.stdout.write(`${terminalSafeJson(json, process.stdout.isTTY ? 2 : undefined)}\n`);
  }

  override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error;
    const code = exitCodeFor(error);
    const message = error.message || String(error);
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: isLockscopeErrorLike(error) ? error.code : code === 2 ? 'BAD_REQUEST' : 'INTERNAL', message } });
    }
    const hint = code === 2 && !isLockscopeErrorLike(error) ? `\nSee \`lockctl ${this.id ?? ''} --help\`.` : '';
    process.stderr.write(`Error: ${safeMessage(message)}${hint}\n`);
    if (code === 1 && !isLockscopeErrorLike(error) && error.stack) process.stderr.write(`${safeMessage(error.stack)}\n`);
    process.exitCode = code;
    return undefined;
  }
}
