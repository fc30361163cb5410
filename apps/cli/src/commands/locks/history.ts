import { Args, Flags } from '@oclif/core';
import { LockscopeError } from '@lockscope/core';
import { LockctlCommand } from '../../base-command.js';
import { EXIT_CODES_HELP } from '../../exit-codes.js';
import { readLockHistory, type LockHistory } from '../../lock-history.js';
import { shipSpoolQuietly } from '../../ship-spool-quietly.js';
import { openConfiguredStore } from '../../store-access.js';
import { formatTime, renderTable } from '../../table.js';
import { HOLD_COLUMNS } from './show.js';

export default class History extends LockctlCommand {
  static override summary = 'Past holds of a lock, and force-releases of it, from the store.';
  static override description = `Needs the store (written by the collector); exits 5 when it cannot be reached.

${EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> history /locks/billing-cron', '<%= config.bin %> history lock:orders --source redis-main --limit 100 --json'];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ required: true, description: 'lock name as `lockctl ls` prints it, or its exact form hex:<key bytes in hex> when two keys show the same name' }) };
  static override flags = {
    source: Flags.string({ char: 's', description: 'only this source' }),
    limit: Flags.integer({ default: 20, min: 1, max: 1000, description: 'how many holds (newest first)' }),
  };

  async run(): Promise<LockHistory> {
    const { args, flags } = await this.parse(History);
    const loaded = this.lockscopeConfig(flags.config);
    const store = await openConfiguredStore(loaded);
    let history: LockHistory;
    try {
      await shipSpoolQuietly(loaded.stateDir, store);
      history = await readLockHistory(store, { name: args.name, source: flags.source, limit: flags.limit });
    } finally {
      await store.close().catch(() => {});
    }
    if (history.locks.length === 0 && history.audits.length === 0) {
      throw new LockscopeError('LOCK_NOT_FOUND', `The store has no record of a lock named ${args.name}${flags.source ? ` on ${flags.source}` : ''}; check the name with \`lockctl ls\` (is the collector running?).`);
    }
    if (!this.jsonEnabled()) {
      const out: string[] = [];
      if (history.holds.length === 0) out.push('No completed holds recorded.');
      else out.push(renderTable(history.holds, [{ header: 'SOURCE', get: (h) => h.source, max: 24 }, ...HOLD_COLUMNS]));
      if (history.audits.length > 0) {
        out.push('', 'Force-releases:');
        out.push(
          renderTable(history.audits, [
            { header: 'AT', get: (a) => formatTime(a.at) },
            { header: 'WHO', get: (a) => `${a.actor}@${a.host}`, max: 40 },
            { header: 'RESULT', get: (a) => a.result },
            { header: 'HOLDER', get: (a) => a.holder, max: 40 },
            { header: 'TOKEN', get: (a) => a.token, max: 20 },
            { header: 'REASON', get: (a) => a.reason, max: 80 },
          ]).replace(/^/gm, '  '),
        );
      }
      this.log(out.join('\n'));
    }
    return history;
  }
}
