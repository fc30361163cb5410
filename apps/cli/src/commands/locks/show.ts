import { Args, Flags } from '@oclif/core';
import { LockscopeError, toHex, type LiveLock } from '@lockscope/core';
import type { StoredAudit } from '@lockscope/store';
import { LockctlCommand, safeMessage } from '../../base-command.js';
import { EXIT_CODES_HELP } from '../../exit-codes.js';
import { loadSourcesBundle } from '../../load-backends.js';
import { readLockHistory, readStoredLockFacts, type HistoryHold } from '../../lock-history.js';
import { freeLockRow, toLockRow, type LockRow, type StoredLockFacts, type WaiterRow } from '../../lock-row.js';
import { openSources, stopAll } from '../../open-sources.js';
import { tryOpenStore } from '../../store-access.js';
import { formatMs, formatRatio, formatTime, renderTable } from '../../table.js';
import { quoteForTerminal as q } from '../../terminal-quote.js';
import { shipSpoolQuietly } from '../../ship-spool-quietly.js';
import { isLockscopeErrorLike } from '../../lockscope-error-like.js';

export interface ShowResult {
  locks: LockRow[];
  /** Sources that could not be asked. */
  unreachable: { source: string; message: string }[];
  history: { available: true; holds: HistoryHold[]; audits: StoredAudit[] } | { available: false; reason: string };
}

export const HOLD_COLUMNS = [
  { header: 'ACQUIRED', get: (h: HistoryHold) => formatTime(h.acquiredAt) },
  { header: 'HELD', get: (h: HistoryHold) => formatMs(h.heldMs), align: 'right' as const },
  { header: 'HOLDER', get: (h: HistoryHold) => h.holder, max: 40 },
  { header: 'TOKEN', get: (h: HistoryHold) => h.token, max: 20 },
  { header: 'TTL', get: (h: HistoryHold) => formatMs(h.ttlMs), align: 'right' as const },
  { header: 'WAITED', get: (h: HistoryHold) => formatMs(h.waitMs), align: 'right' as const },
  { header: 'MAX-USED', get: (h: HistoryHold) => formatRatio(h.maxLeaseUsed), align: 'right' as const },
  { header: 'ENDED', get: (h: HistoryHold) => `${h.endReason}${h.approximate ? ' (approx.)' : ''}` },
];

export default class Show extends LockctlCommand {
  static override summary = 'Show one lock: the hold, fencing token, TTL, waiter queue and its last holds.';
  static override description = `The live state comes from the backends; the last holds come from the store when it can be reached (otherwise the output says so and the command still succeeds).

${EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> show /locks/billing-cron', '<%= config.bin %> show lock:orders --source redis-main --json'];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ required: true, description: 'lock name as `lockctl ls` prints it, or its exact form hex:<key bytes in hex> when two keys show the same name' }) };
  static override flags = {
    source: Flags.string({ char: 's', description: 'only look in this source' }),
    limit: Flags.integer({ default: 10, min: 1, max: 1000, description: 'how many past holds to show' }),
  };

  async run(): Promise<ShowResult> {
    const { args, flags } = await this.parse(Show);
    const loaded = this.lockscopeConfig(flags.config);
    const sources = await openSources(loaded, flags.source ? [flags.source] : undefined);
    const storeOpening = tryOpenStore(loaded);
    let result: ShowResult;
    try {
      const { findLockByName } = await loadSourcesBundle();
      const answers = await Promise.allSettled(sources.map(async (s) => (await findLockByName(s, args.name))?.lock ?? null));
      const live: LiveLock[] = [];
      const unreachable: { source: string; message: string }[] = [];
      answers.forEach((a, i) => {
        if (a.status === 'fulfilled') {
          if (a.value) live.push(a.value);
        } else {
          const e = a.reason as unknown;
          if (isLockscopeErrorLike(e) && e.code !== 'SOURCE_UNREACHABLE') throw e;
          unreachable.push({ source: sources[i]!.name, message: e instanceof Error ? e.message : String(e) });
        }
      });
      const opened = await storeOpening;
      let history: ShowResult['history'];
      let stored: StoredLockFacts[] = [];
      if (opened.store) {
        try {
          await shipSpoolQuietly(loaded.stateDir, opened.store);
          const [h, facts] = await Promise.all([
            readLockHistory(opened.store, { name: args.name, source: flags.source, limit: flags.limit }),
            readStoredLockFacts(opened.store, { name: args.name, source: flags.source }),
          ]);
          stored = facts;
          history = { available: true, holds: h.holds, audits: h.audits };
        } catch (error) {
          history = { available: false, reason: error instanceof Error ? error.message : String(error) };
        } finally {
          await opened.store.close().catch(() => {});
        }
      } else {
        history = { available: false, reason: opened.error };
      }
      const now = Date.now();
      const nearExpiryRatio = loaded.config.alerts.nearExpiryRatio;
      const storedFor = (source: string, keyHex: string) => stored.find((f) => f.source === source && f.rawKey === keyHex);
      const locks = live.map((l) => toLockRow(l, { nearExpiryRatio, stored: storedFor(l.source, toHex(l.key)) }));
      // Free now, but the store knows it: show it free, with its last holds (a source that did
      // not answer cannot say it is free).
      const asked = new Set(sources.map((s) => s.name).filter((n) => !unreachable.some((u) => u.source === n)));
      for (const f of stored) {
        if (asked.has(f.source) && !locks.some((l) => l.source === f.source && l.keyHex === f.rawKey)) locks.push(freeLockRow(f, { now }));
      }
      if (locks.length === 0) {
        if (unreachable.length > 0) {
          throw new LockscopeError('SOURCE_UNREACHABLE', `${args.name} was not found on the reachable sources and ${unreachable.map((u) => u.source).join(', ')} could not be asked: ${unreachable[0]!.message}`);
        }
        throw new LockscopeError('LOCK_NOT_FOUND', `No lock named ${args.name} on ${flags.source ?? 'any configured source'}${history.available ? ' nor in the store' : ''}; run \`lockctl ls --all\` to see the names.`);
      }
      result = { locks, unreachable, history };
    } finally {
      await stopAll(sources);
      void storeOpening.then((o) => o.store?.close()).catch(() => {});
    }
    if (!this.jsonEnabled()) this.log(this.render(result));
    return result;
  }

  private render(result: ShowResult): string {
    const out: string[] = [];
    for (const lock of result.locks) {
      out.push(`${q(lock.name)}  on ${q(lock.source)}  (${lock.dialect})`);
      if (lock.held) {
        out.push(`  holder      ${q(lock.holder)}`);
        out.push(`  token       ${q(lock.token ?? 'none')}`);
        out.push(`  held since  ${lock.acquiredAt === null ? `unknown (not recorded by the backend; ${result.history.available ? 'the store has no record of this hold' : 'the store could not be read'})` : `${formatTime(lock.acquiredAt)} (${formatMs(lock.heldMs)})`}`);
        out.push(`  ttl         ${lock.ttlMs !== null ? formatMs(lock.ttlMs) : lock.remainingMs === null ? 'none (the hold cannot expire)' : 'unknown (a live read sees only what remains; the store has no record of the grant)'}`);
        out.push(`  remaining   ${q(formatMs(lock.remainingMs))}${lock.leaseUsedRatio === null ? '' : `  (${formatRatio(lock.leaseUsedRatio)} of the lease used${lock.nearExpiry ? ', NEAR EXPIRY' : ''})`}`);
      } else {
        out.push('  free (no holder)');
      }
      if (lock.waiterQueue === null) out.push('  waiters     not observable for this dialect');
      else if (lock.waiterQueue.length === 0) out.push('  waiters     none');
      else {
        out.push(`  waiters     ${lock.waiterQueue.length}, in queue order:`);
        const table = renderTable<WaiterRow & { pos: number }>(
          lock.waiterQueue.map((w, i) => ({ ...w, pos: i + 1 })),
          [
            { header: '#', get: (w) => String(w.pos), align: 'right' },
            { header: 'WAITER', get: (w) => w.holder, max: 40 },
            { header: 'TOKEN', get: (w) => w.token, max: 20 },
            { header: 'WAITING', get: (w) => formatMs(w.waitedMs) ?? 'unknown', align: 'right' },
          ],
        );
        out.push(table.replace(/^/gm, '    '));
      }
      out.push('');
    }
    for (const u of result.unreachable) out.push(`Warning: source ${q(u.source)} could not be asked: ${safeMessage(u.message)}`);
    if (!result.history.available) {
      out.push(`Last holds: not available; the store could not be used: ${safeMessage(result.history.reason)}`);
    } else if (result.history.holds.length === 0) {
      out.push('Last holds: none recorded in the store.');
    } else {
      out.push('Last holds (newest first, from the store):');
      out.push(renderTable(result.history.holds, HOLD_COLUMNS).replace(/^/gm, '  '));
    }
    if (result.history.available && result.history.audits.length > 0) {
      out.push('Force-releases:');
      for (const a of result.history.audits) out.push(`  ${formatTime(a.at)}  ${q(a.actor)}@${q(a.host)}  ${q(a.result)}  holder ${q(a.holder)}  reason: ${q(a.reason)}`);
    }
    return out.join('\n');
  }
}
