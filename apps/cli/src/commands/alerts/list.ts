import { Flags } from '@oclif/core';
import { ALERT_RULES, displayKey, hexName, keysForName, lockId, LockscopeError } from '@lockscope/core';
import type { AlertView, Store } from '@lockscope/store';
import { LockctlCommand } from '../../base-command.js';
import { loadStoreBundle } from '../../load-backends.js';
import { renderTable } from '../../table.js';
import type { AlertJson } from './alert-schema.js';
import { ALERTS_EXIT_CODES_HELP, alertColumns, explainStoreError, openAlertsStore, parseCliDuration } from './alerts-shared.js';

export interface AlertQuery {
  state: 'firing' | 'resolved' | undefined;
  rule: string | undefined;
  source: string | undefined;
  lock: string | undefined;
  since: number | undefined;
  limit: number;
}

/**
 * Alerts newest first. The store filters by lock id, while operators know the
 * name: a name maps to one id per source (and an id per key encoding), so the
 * ids are looked up from the alerts that carry that name and read one by one.
 */
async function readAlerts(store: Store, q: AlertQuery): Promise<AlertView[]> {
  const { listAlerts } = await loadStoreBundle();
  const base = { state: q.state, rule: q.rule, source: q.source, since: q.since, limit: q.limit };
  if (q.lock === undefined) return listAlerts(store, base);
  // A name with \xNN escapes or a hex: form may stand for several keys; keep the alerts of
  // those keys only, and ask which when one source has alerts on more than one.
  const keys = keysForName(q.lock);
  const names = [...new Set(keys.map(displayKey))];
  const seen = await store.prisma.alert.findMany({
    where: { lockName: names.length === 1 ? names[0]! : { in: names }, lockId: { not: null }, ...(q.source ? { source: q.source } : {}) },
    distinct: ['lockId'],
    select: { lockId: true, source: true },
  });
  const ids = seen.filter((a) => keys.some((k) => lockId(a.source, k) === a.lockId));
  for (const source of new Set(ids.map((a) => a.source))) {
    const same = ids.filter((a) => a.source === source);
    if (same.length > 1) {
      const forms = same.map((a) => hexName(keys.find((k) => lockId(source, k) === a.lockId)!));
      throw new LockscopeError('BAD_REQUEST', `--lock ${q.lock} on ${source} names ${same.length} different keys with alerts; name one by its exact form: ${forms.join(', ')}`, {
        details: { source, name: q.lock, candidates: forms },
      });
    }
  }
  const lists = await Promise.all(ids.map(({ lockId }) => listAlerts(store, { ...base, lockId: lockId! })));
  return lists
    .flat()
    .sort((a, b) => b.startedAt - a.startedAt || Number(BigInt(b.id) - BigInt(a.id)))
    .slice(0, q.limit);
}

export default class Alerts extends LockctlCommand {
  static override summary = 'Alerts the collector recorded: open ones by default, newest first.';
  static override description = `Reads the store (written by the collector); exits 5 when it cannot be reached.
Columns: id (for \`alerts ack\` / \`alerts silence\`), rule, lock, source, state, when it started, value / threshold (near_expiry: share of the lease used; high_contention: waiters; the others: time), who acknowledged it and until when it is silenced.
--json prints one JSON array of alerts (id, rule, state, source, lockId, lockName, startedAt, resolvedAt, value, threshold, message, ackedAt, ackedBy, silencedUntil; times in epoch ms, unknown values null).

${ALERTS_EXIT_CODES_HELP}`;
  static override examples = [
    '<%= config.bin %> alerts',
    '<%= config.bin %> alerts --all --since 24h',
    '<%= config.bin %> alerts --state resolved --rule lease_expired --source redis-main',
    '<%= config.bin %> alerts --lock /locks/billing-cron --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'firing and resolved alerts', exclusive: ['state'] }),
    state: Flags.option({ options: ['firing', 'resolved'] as const, description: 'only alerts in this state (default: firing)', exclusive: ['all'] })(),
    rule: Flags.option({ options: ALERT_RULES, description: 'only this rule' })(),
    source: Flags.string({ char: 's', description: 'only this source' }),
    lock: Flags.string({ char: 'l', description: 'only alerts on the lock with this name (as `lockctl ls` prints it, or its exact hex:<key bytes> form)' }),
    since: Flags.string({ description: 'only alerts that started within this long, e.g. 30m, 24h, 7d' }),
    limit: Flags.integer({ default: 100, min: 1, max: 1000, description: 'how many alerts at most (newest first)' }),
  };

  async run(): Promise<AlertView[]> {
    const { flags } = await this.parse(Alerts);
    const since = flags.since === undefined ? undefined : Date.now() - parseCliDuration(flags.since, '--since');
    const query: AlertQuery = {
      state: flags.all ? undefined : (flags.state ?? 'firing'),
      rule: flags.rule,
      source: flags.source,
      lock: flags.lock,
      since,
      limit: flags.limit,
    };
    const store = await openAlertsStore(this.lockscopeConfig(flags.config));
    let alerts: AlertView[];
    try {
      alerts = await readAlerts(store, query).catch((error: unknown) => {
        throw explainStoreError(error);
      });
    } finally {
      await store.close().catch(() => {});
    }
    if (!this.jsonEnabled()) {
      if (alerts.length === 0) this.log(query.state === 'firing' ? 'No open alerts.' : 'No alerts match.');
      else this.log(renderTable<AlertJson>(alerts, alertColumns(Date.now())));
    }
    return alerts;
  }
}
