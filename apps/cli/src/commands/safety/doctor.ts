import { Flags } from '@oclif/core';
import picomatch from 'picomatch';
import { hygieneHazards, LockscopeError, SEVERITIES, severityRank, type Hazard, type Severity } from '@lockscope/core';
import { LockctlCommand } from '../../base-command.js';
import { loadStoreBundle } from '../../load-backends.js';
import { isLockscopeErrorLike } from '../../lockscope-error-like.js';
import { openConfiguredStore } from '../../store-access.js';
import { formatTime, renderTable } from '../../table.js';
import { quoteForTerminal } from '../../terminal-quote.js';
import { parseCliDuration } from '../alerts/alerts-shared.js';

/** Where each kind is explained; printed beside findings and in --json. */
export const HAZARDS_DOC = 'docs/hazards.md';

export interface DoctorFinding extends Omit<Hazard, 'lockName' | 'id'> {
  lock: string | null;
  /** found live by the collector, or judged now from history */
  foundBy: 'collector' | 'history';
  docs: string;
}

export default class Doctor extends LockctlCommand {
  static override summary = 'Is our locking safe? Hazards found by the collector and judged from history, most severe first.';
  static override description = `Reads the store. Live hazards (unsafe_handover, stale_token_accepted/refused, token_regression, deadlock) are the ones the collector recorded within --since or still open; hygiene hazards (no_ttl, ttl_too_short, ttl_too_long, no_fencing, hot_lock, renewed_forever) are judged now from each lock's holds within --since (the newest 2,000 per lock). Each kind is explained, with how to fix it, in ${HAZARDS_DOC}.
--json prints one JSON array: kind, severity, source, lock, lockId, since, until, holders, tokens, detail, evidence, foundBy, docs (times in epoch ms, unknown values null).

EXIT CODES
  0  no hazard at or above --fail-on
  1  at least one hazard at or above --fail-on (so it can gate a deploy or a cron)
  2  usage error (bad flag or duration, invalid lockscope.yaml)
  5  the store is unreachable`;
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --source redis-main --since 7d --fail-on warning',
    '<%= config.bin %> doctor --match "/locks/billing*" --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    source: Flags.string({ char: 's', description: 'only this source' }),
    match: Flags.string({ char: 'm', description: 'glob over lock names' }),
    since: Flags.string({ default: '24h', description: 'how far back to look, e.g. 1h, 24h, 7d' }),
    'fail-on': Flags.option({ options: SEVERITIES, default: 'critical' as Severity, description: 'exit 1 when a hazard of this severity or worse is found' })(),
  };

  async run(): Promise<DoctorFinding[]> {
    const { flags } = await this.parse(Doctor);
    const now = Date.now();
    const since = now - parseCliDuration(flags.since, '--since');
    const loaded = this.lockscopeConfig(flags.config);
    let store;
    try {
      store = await openConfiguredStore(loaded);
    } catch (error) {
      if (!isLockscopeErrorLike(error, 'STORE_UNAVAILABLE')) throw error;
      throw new LockscopeError('STORE_UNAVAILABLE', `Cannot reach the store, where the collector records what doctor judges: ${error.message.replace(/\.$/, '')}. Check store.url or DATABASE_URL.`, { cause: error });
    }
    let findings: DoctorFinding[];
    try {
      const { listHazards, lockHistories } = await loadStoreBundle();
      const query = { db: store.prisma, since, source: flags.source };
      const [live, histories] = await Promise.all([listHazards(query), lockHistories(query)]);
      const matches = flags.match ? picomatch(flags.match, { dot: true }) : () => true;
      const of = (h: Hazard, foundBy: DoctorFinding['foundBy']): DoctorFinding => {
        const { lockName, id: _id, ...rest } = h;
        return { ...rest, lock: lockName, foundBy, docs: `${HAZARDS_DOC}#${h.kind}` };
      };
      findings = [
        ...live.filter((h) => h.lockName === null || matches(h.lockName)).map((h) => of(h, 'collector')),
        ...histories.filter((l) => matches(l.ref.name)).flatMap((l) => hygieneHazards(l, { now })).map((h) => of(h, 'history')),
      ].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || b.since - a.since);
    } finally {
      await store.close().catch(() => {});
    }
    const failing = findings.filter((f) => severityRank(f.severity) >= severityRank(flags['fail-on']));
    if (!this.jsonEnabled()) {
      if (findings.length === 0) {
        this.log(`No hazards found since ${formatTime(since)}.`);
      } else {
        this.log(
          renderTable<DoctorFinding>(findings, [
            { header: 'SEVERITY', get: (f) => f.severity },
            { header: 'KIND', get: (f) => f.kind },
            { header: 'SOURCE', get: (f) => f.source },
            { header: 'LOCK', get: (f) => f.lock, max: 48 },
            { header: 'SINCE', get: (f) => formatTime(f.since) },
            { header: 'OPEN', get: (f) => (f.until === null ? 'yes' : 'ended') },
            { header: 'HOLDERS', get: (f) => f.holders.join(', ') || null, max: 40 },
            { header: 'TOKENS', get: (f) => f.tokens.join(', ') || null, max: 30 },
          ]),
        );
        this.log('');
        // Details quote lock names and holders from the backends: escaped like every backend value.
        for (const f of findings.slice(0, 20)) this.log(quoteForTerminal(`${f.severity} ${f.kind}: ${f.detail}`, { maxLength: 2_000 }));
        if (findings.length > 20) this.log(`... and ${findings.length - 20} more (--json lists every one).`);
        this.log(`\nWhat each kind means and how to fix it: ${HAZARDS_DOC}.`);
      }
    }
    if (failing.length > 0) {
      process.exitCode = 1;
      if (!this.jsonEnabled()) process.stderr.write(`${failing.length} hazard(s) at or above ${flags['fail-on']}.\n`);
    }
    return findings;
  }
}
