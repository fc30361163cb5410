import { Args, Flags } from '@oclif/core';
import type { AlertView } from '@lockscope/store';
import { LockctlCommand } from '../../base-command.js';
import { cliEnv } from '../../cli-env.js';
import { loadStoreBundle } from '../../load-backends.js';
import { formatTime } from '../../table.js';
import { quoteForTerminal } from '../../terminal-quote.js';
import { ALERTS_EXIT_CODES_HELP, describeAlert, explainStoreError, openAlertsStore, parseCliDuration } from './alerts-shared.js';

export default class AlertsAck extends LockctlCommand {
  static override summary = 'Acknowledge an alert, optionally silencing its notifications for a while.';
  static override description = `Records who acknowledged it (--actor, else LOCKSCOPE_ACTOR, else the OS user@host) and when. A second ack replaces the first.
--silence also stops its webhook notifications for that long (at most 30 days), including a re-opened alert of the same rule on the same lock.
Needs the store; exits 5 when it cannot be reached, 3 when there is no alert with that id.

${ALERTS_EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> alerts ack 42', '<%= config.bin %> alerts ack 42 --silence 30m --actor alice', '<%= config.bin %> alerts ack 42 --json'];
  static override enableJsonFlag = true;
  static override args = { id: Args.string({ required: true, description: 'alert id, as `lockctl alerts` prints it' }) };
  static override flags = {
    silence: Flags.string({ description: 'also silence notifications for this long, e.g. 30m, 2h, 1d' }),
    actor: Flags.string({ description: 'who acknowledges (default: LOCKSCOPE_ACTOR or OS user@host)' }),
  };

  async run(): Promise<AlertView> {
    const { args, flags } = await this.parse(AlertsAck);
    const silenceForMs = flags.silence === undefined ? undefined : parseCliDuration(flags.silence, '--silence');
    const env = cliEnv();
    const by = flags.actor ?? env.LOCKSCOPE_ACTOR ?? `${env.user}@${env.host}`;
    const { ackAlert, parseAlertId } = await loadStoreBundle();
    const id = parseAlertId(args.id);
    const store = await openAlertsStore(this.lockscopeConfig(flags.config));
    let alert: AlertView;
    try {
      alert = await ackAlert(store, { id, by, ...(silenceForMs !== undefined ? { silenceForMs } : {}) }).catch((error: unknown) => {
        throw explainStoreError(error);
      });
      // The same audit trail as the dashboard's acks (the store is open, so no spool is needed).
      await store.recordAudit({
        at: Date.now(),
        actor: by,
        host: env.host,
        action: 'alert_ack',
        source: alert.source,
        lockName: alert.lockName ?? '',
        reason: '',
        result: 'ok',
        target: `alert ${alert.id}`,
        detail: silenceForMs !== undefined ? JSON.stringify({ silenceForMs, via: 'lockctl' }) : JSON.stringify({ via: 'lockctl' }),
      });
    } finally {
      await store.close().catch(() => {});
    }
    if (!this.jsonEnabled()) {
      const silenced = alert.silencedUntil !== null && silenceForMs !== undefined ? `; silenced until ${formatTime(alert.silencedUntil)}` : '';
      this.log(`Acknowledged alert ${quoteForTerminal(describeAlert(alert))} as ${quoteForTerminal(alert.ackedBy)}${silenced}.`);
    }
    return alert;
  }
}
