import { SUGGESTED_NOTIFY_FLAGS, type SourceHealth } from '@lockscope/sources';
import { LockctlCommand, safeMessage } from '../../base-command.js';
import { EXIT, EXIT_CODES_HELP } from '../../exit-codes.js';
import { openSources, stopAll } from '../../open-sources.js';
import { renderTable } from '../../table.js';

export interface SourceCheck {
  name: string;
  kind: 'etcd' | 'redis';
  reachable: boolean;
  version: string | null;
  /** Redis only: whether keyspace notifications cover what the collector needs; null for etcd or unknown. */
  notifications: 'on' | 'enabled-by-lockscope' | 'off' | null;
  problem: string | null;
  fix: string | null;
}

/** What is wrong and what to do about it, in words. */
export function adviseOn(health: SourceHealth): Pick<SourceCheck, 'problem' | 'fix'> {
  if (!health.connected) {
    return {
      problem: health.lastError ?? 'not reachable',
      fix: health.kind === 'etcd' ? 'check the endpoints (and username/password) of this source in lockscope.yaml, and that etcd is up' : 'check the url of this source in lockscope.yaml, and that Redis is up and accepts this client',
    };
  }
  if (health.kind === 'redis' && health.notifications === 'off') {
    return {
      problem: 'keyspace notifications are off, so the collector only sees changes at resync',
      fix: `run \`CONFIG SET notify-keyspace-events ${SUGGESTED_NOTIFY_FLAGS}\` on this Redis (and persist it in redis.conf), or allow the collector to with enableNotifications: true`,
    };
  }
  return { problem: null, fix: null };
}

export default class Sources extends LockctlCommand {
  static override summary = 'Check each configured source: reachable, version, Redis keyspace notifications, and what to fix.';
  static override description = `Exits 5 when any source is unreachable.

${EXIT_CODES_HELP}`;
  static override examples = ['<%= config.bin %> sources', '<%= config.bin %> sources --json'];
  static override enableJsonFlag = true;

  async run(): Promise<SourceCheck[]> {
    const { flags } = await this.parse(Sources);
    const loaded = this.lockscopeConfig(flags.config);
    const sources = await openSources(loaded);
    let checks: SourceCheck[];
    try {
      const healths = await Promise.all(sources.map((s) => s.probe()));
      checks = healths.map((h) => ({
        name: h.name,
        kind: h.kind,
        reachable: h.connected,
        version: h.version ?? null,
        notifications: h.kind === 'redis' ? (h.notifications ?? null) : null,
        ...adviseOn(h),
      }));
    } finally {
      await stopAll(sources);
    }
    if (!this.jsonEnabled()) {
      this.log(
        renderTable(checks, [
          { header: 'SOURCE', get: (c) => c.name, max: 24 },
          { header: 'KIND', get: (c) => c.kind },
          { header: 'REACHABLE', get: (c) => (c.reachable ? 'yes' : 'NO') },
          { header: 'VERSION', get: (c) => c.version, max: 20 },
          { header: 'NOTIFICATIONS', get: (c) => (c.kind === 'etcd' ? 'n/a (watch)' : (c.notifications ?? 'unknown')) },
        ]),
      );
      const problems = checks.filter((c) => c.problem);
      const sentence = (text: string | null) => `${(text ?? '').replace(/[.\s]+$/, '')}.`;
      for (const c of problems) this.log(`\n${safeMessage(c.name)}: ${safeMessage(sentence(c.problem))}\n  Fix: ${sentence(c.fix)}`);
      if (problems.length === 0) this.log('\nAll sources look fine.');
    }
    if (checks.some((c) => !c.reachable)) process.exitCode = EXIT.UNREACHABLE;
    return checks;
  }
}
