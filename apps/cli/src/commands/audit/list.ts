import { Flags } from '@oclif/core';
import type { StoredAudit } from '@lockscope/store';
import { LockctlCommand } from '../../base-command.js';
import { EXIT_CODES_HELP } from '../../exit-codes.js';
import { renderTable } from '../../table.js';
import { explainStoreError, openAlertsStore, parseCliDuration } from '../alerts/alerts-shared.js';

export default class Audit extends LockctlCommand {
  static override summary = 'Who did what: force-releases (lockctl and dashboard), alert acks and silences, API tokens, refused actions and sign-ins; newest first.';
  static override description = `Reads the audit records in the store (the same table the dashboard's Audit page shows); exits 5 when the store cannot be reached.
Columns: when, user, role (dashboard users and tokens; "-" for lockctl), action, target (source and lock, or what else was acted on), holder and token at the time, reason, result.
--json prints one JSON array (id, at, actor, role, host, action, source, lockName, target, holder, token, reason, result, detail; unknown values null).

${EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> audit', '<%= config.bin %> audit --user olga --action force_release --since 7d', '<%= config.bin %> audit --lock /locks/billing-cron --json'];
  static override enableJsonFlag = true;
  static override flags = {
    user: Flags.string({ char: 'u', description: 'only records by this user or API token name' }),
    action: Flags.string({ char: 'a', description: 'only this action (force_release, alert_ack, alert_silence, token_create, token_revoke, sign_in, refused)' }),
    lock: Flags.string({ char: 'l', description: 'only records on the lock with this name' }),
    source: Flags.string({ char: 's', description: 'only records on this source' }),
    since: Flags.string({ description: 'only records within this long, e.g. 30m, 24h, 7d' }),
    limit: Flags.integer({ default: 100, min: 1, max: 1000, description: 'how many records at most (newest first)' }),
  };

  async run(): Promise<StoredAudit[]> {
    const { flags } = await this.parse(Audit);
    const since = flags.since === undefined ? undefined : Date.now() - parseCliDuration(flags.since, '--since');
    const store = await openAlertsStore(this.lockscopeConfig(flags.config));
    let records: StoredAudit[];
    try {
      records = await store
        .listAudit({
          ...(flags.user !== undefined ? { actor: flags.user } : {}),
          ...(flags.action !== undefined ? { action: flags.action } : {}),
          ...(flags.lock !== undefined ? { lockName: flags.lock } : {}),
          ...(flags.source !== undefined ? { source: flags.source } : {}),
          ...(since !== undefined ? { since } : {}),
          limit: flags.limit,
        })
        .catch((error: unknown) => {
          throw explainStoreError(error);
        });
    } finally {
      await store.close().catch(() => {});
    }
    if (!this.jsonEnabled()) {
      if (records.length === 0) this.log('No audit records match.');
      else
        this.log(
          renderTable<StoredAudit>(records, [
            { header: 'WHEN', get: (r) => new Date(r.at).toISOString() },
            { header: 'USER', get: (r) => r.actor, max: 32 },
            { header: 'ROLE', get: (r) => r.role ?? '-' },
            { header: 'ACTION', get: (r) => r.action },
            { header: 'TARGET', get: (r) => (r.lockName ? `${r.source} ${r.lockName}` : r.target), max: 60 },
            { header: 'HOLDER', get: (r) => r.holder, max: 24 },
            { header: 'TOKEN', get: (r) => r.token, max: 16 },
            { header: 'REASON', get: (r) => r.reason || null, max: 60 },
            { header: 'RESULT', get: (r) => r.result },
          ]),
        );
    }
    return records;
  }
}
