import { Args, Flags } from '@oclif/core';
import type { AlertView } from '@lockscope/store';
import { LockctlCommand } from '../../base-command.js';
import { cliEnv } from '../../cli-env.js';
import { loadStoreBundle } from '../../load-backends.js';
import { formatTime } from '../../table.js';
import { quoteForTerminal } from '../../terminal-quote.js';
import { ALERTS_EXIT_CODES_HELP, describeAlert, explainStoreError, openAlertsStore, parseCliDuration } from './alerts-shared.js';

export default class AlertsSilence extends LockctlCommand {
  static override summary = 'Silence an alert\'s notifications for a while, without acknowledging it.';
  static override description = `No webhook notification is sent for it until the silence ends (at most 30 days); the silence also covers a re-opened alert of the same rule on the same lock. A new silence replaces the old one.
Needs the store; exits 5 when it cannot be reached, 3 when there is no alert with that id.

${ALERTS_EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> alerts silence 42 --for 1h', '<%= config.bin %> alerts silence 42 --for 2d --json'];
  static override enableJsonFlag = true;
  static override args = { id: Args.string({ required: true, description: 'alert id, as `lockctl alerts` prints it' }) };
  static override flags = {
    for: Flags.string({ required: true, description: 'how long, e.g. 30m, 1h, 2d' }),
  };

  async run(): Promise<AlertView> {
    const { args, flags } = await this.parse(AlertsSilence);
    const forMs = parseCliDuration(flags.for, '--for');
    const { silenceAlert, parseAlertId } = await loadStoreBundle();
    const id = parseAlertId(args.id);
    const store = await openAlertsStore(this.lockscopeConfig(flags.config));
    let alert: AlertView;
    try {
      alert = await silenceAlert(store, { id, forMs }).catch((error: unknown) => {
        throw explainStoreError(error);
      });
      const env = cliEnv();
      await store.recordAudit({
        at: Date.now(),
        actor: env.LOCKSCOPE_ACTOR ?? `${env.user}@${env.host}`,
        host: env.host,
        action: 'alert_silence',
        source: alert.source,
        lockName: alert.lockName ?? '',
        reason: '',
        result: 'ok',
        target: `alert ${alert.id}`,
        detail: JSON.stringify({ forMs, via: 'lockctl' }),
      });
    } finally {
      await store.close().catch(() => {});
    }
    if (!this.jsonEnabled()) this.log(`Silenced alert ${quoteForTerminal(describeAlert(alert))} until ${formatTime(alert.silencedUntil)}.`);
    return alert;
  }
}
