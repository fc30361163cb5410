import { Flags } from '@oclif/core';
import { LockscopeError, toHex } from '@lockscope/core';
import type { LockSource } from '@lockscope/sources';
import { LockctlCommand, safeMessage } from '../../base-command.js';
import { collectLocks, type SourceFailure } from '../../collect-locks.js';
import { EXIT, EXIT_CODES_HELP } from '../../exit-codes.js';
import { filterLocks, LOCK_SORTS, sortLocks, type LockSort } from '../../lock-filter.js';
import { freeLockRow, toLockRow, type LockRow } from '../../lock-row.js';
import { openSources, stopAll } from '../../open-sources.js';
import { readStoredLocks, storedKey, storeUnavailableWarning } from '../../stored-locks.js';
import { formatMs, formatRatio, renderTable, type Column } from '../../table.js';
import { sameNameNotes } from '../../same-name-notes.js';

const COLUMNS: Column<LockRow>[] = [
  { header: 'SOURCE', get: (r) => r.source, max: 24 },
  { header: 'NAME', get: (r) => r.name, max: 60 },
  { header: 'DIALECT', get: (r) => r.dialect },
  { header: 'HOLDER', get: (r) => r.holder, max: 40 },
  { header: 'TOKEN', get: (r) => r.token, max: 20 },
  { header: 'HELD', get: (r) => formatMs(r.heldMs), align: 'right' },
  { header: 'TTL', get: (r) => formatMs(r.ttlMs), align: 'right' },
  { header: 'REMAINING', get: (r) => formatMs(r.remainingMs), align: 'right' },
  { header: 'USED', get: (r) => formatRatio(r.leaseUsedRatio), align: 'right' },
  { header: 'WAITERS', get: (r) => (r.waiters === null ? 'n/a' : String(r.waiters)), align: 'right' },
  { header: 'NEAR-EXPIRY', get: (r) => (r.nearExpiry === null ? '?' : r.nearExpiry ? 'YES' : 'no') },
];

export default class Ls extends LockctlCommand {
  static override summary = 'List every lock across the configured sources, live from etcd and Redis.';
  static override description = `Reads the backends directly, and adds what only the collector saw from the store: when each hold began (HELD), the granted TTL of Redis locks (a live read sees only what remains) and when each waiter arrived. When the store cannot be read, one warning says so and those values are unknown (- here, null in --json), never guessed. WAITERS is n/a where the lock library leaves no trace of waiters. etcd answers remaining time in whole seconds; REMAINING is then refined from the collector's last known grant, or is the middle of that second.

With --json prints one JSON array; each element has source, name, keyHex, dialect, held, holder, token, acquiredAt, heldMs, ttlMs, remainingMs, leaseUsedRatio, waiters, waiterQueue, nearExpiry, observedAt (unknown values are null).

If a source cannot be reached the others are still listed, a warning goes to stderr and the exit code is 5.

${EXIT_CODES_HELP}`;
  static override examples = [
    '<%= config.bin %> ls',
    '<%= config.bin %> ls --source etcd-main --match "/locks/billing*" --sort remaining',
    '<%= config.bin %> ls --near-expiry --json',
    '<%= config.bin %> ls --contended --watch',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    source: Flags.string({ char: 's', multiple: true, description: 'only this source (repeatable)' }),
    match: Flags.string({ char: 'm', description: 'glob over lock names, or over "source:name"' }),
    'near-expiry': Flags.boolean({ description: 'only holds that have used more than the configured share of their lease (alerts.nearExpiryRatio, 0.8)' }),
    contended: Flags.boolean({ description: 'only locks with visible waiters' }),
    all: Flags.boolean({ char: 'a', description: 'also list free locks the store knows (on the sources that answered)' }),
    sort: Flags.option({ options: LOCK_SORTS, default: 'source' as LockSort, description: 'sort order; remaining/lease-used/waiters/held put what needs attention first' })(),
    watch: Flags.boolean({ char: 'w', description: 'redraw every second until Ctrl-C', exclusive: ['json'] }),
  };

  async run(): Promise<LockRow[]> {
    const { flags } = await this.parse(Ls);
    const loaded = this.lockscopeConfig(flags.config);
    const sources = await openSources(loaded, flags.source);
    const snapshot = async () => {
      const [{ locks, failures }, stored] = await Promise.all([collectLocks(sources), readStoredLocks(loaded, sources.map((s) => s.name))]);
      const now = Date.now();
      const nearExpiryRatio = loaded.config.alerts.nearExpiryRatio;
      const byKey = stored.available ? stored.byKey : new Map();
      const rows = locks.map((l) => toLockRow(l, { nearExpiryRatio, stored: byKey.get(storedKey(l.source, toHex(l.key))) }));
      if (flags.all && stored.available) {
        const listed = new Set(rows.map((r) => storedKey(r.source, r.keyHex)));
        const answered = new Set(sources.map((s) => s.name).filter((n) => !failures.some((f) => f.source === n)));
        for (const [key, row] of stored.byKey) if (answered.has(row.source) && !listed.has(key)) rows.push(freeLockRow(row, { now }));
      }
      const filtered = sortLocks(filterLocks(rows, { sources: flags.source, match: flags.match, nearExpiry: flags['near-expiry'], contended: flags.contended }), flags.sort);
      return { rows: filtered, failures, total: rows.length, storeWarning: stored.available ? null : storeUnavailableWarning(stored.reason) };
    };
    try {
      if (flags.watch) {
        await this.watch(sources, snapshot);
        return [];
      }
      const { rows, failures, total, storeWarning } = await snapshot();
      this.reportFailures(failures, sources.length);
      if (storeWarning) process.stderr.write(`${safeMessage(storeWarning)}\n`);
      if (!this.jsonEnabled()) this.log(this.render(rows, total, sources.length - failures.length));
      return rows;
    } finally {
      await stopAll(sources);
    }
  }

  private render(rows: LockRow[], total: number, reachable: number): string {
    const held = rows.filter((r) => r.held).length;
    const shown = rows.length === total ? `${total} lock${total === 1 ? '' : 's'}` : `${rows.length} of ${total} locks`;
    const footer = `${shown} (${held} held) on ${reachable} reachable source${reachable === 1 ? '' : 's'}`;
    return rows.length === 0 ? footer : [renderTable(rows, COLUMNS), footer, ...sameNameNotes(rows)].join('\n');
  }

  private reportFailures(failures: SourceFailure[], total: number): void {
    for (const f of failures) process.stderr.write(`Warning: source ${safeMessage(f.source)} was not listed: ${safeMessage(f.message)}\n`);
    if (failures.length > 0 && failures.length === total) {
      throw new LockscopeError('SOURCE_UNREACHABLE', failures.length === 1 ? failures[0]!.message : `None of the ${total} sources could be reached; run \`lockctl sources\` to see why.`);
    }
    if (failures.length > 0) process.exitCode = EXIT.UNREACHABLE;
  }

  private async watch(sources: LockSource[], snapshot: () => Promise<{ rows: LockRow[]; failures: SourceFailure[]; total: number; storeWarning: string | null }>): Promise<void> {
    let stopped = false;
    let wake: (() => void) | null = null;
    const onSignal = () => {
      stopped = true;
      wake?.();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const tty = process.stdout.isTTY === true;
    try {
      while (!stopped) {
        const started = Date.now();
        const { rows, failures, total, storeWarning } = await snapshot();
        const warnings = [...failures.map((f) => `Warning: source ${safeMessage(f.source)} unreachable: ${safeMessage(f.message)}`), ...(storeWarning ? [safeMessage(storeWarning)] : [])].join('\n');
        const body = `${new Date().toISOString()}  (Ctrl-C to stop)\n${this.render(rows, total, sources.length - failures.length)}${warnings ? `\n${warnings}` : ''}`;
        // Clear and home on a terminal; elsewhere (piped to a file) just separate the frames.
        process.stdout.write(tty ? `\u001b[H\u001b[2J${body}\n` : `${body}\n\n`);
        const pause = Math.max(0, 1_000 - (Date.now() - started));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
