import { Args, Flags } from '@oclif/core';
import { LockscopeError, type LiveLock } from '@lockscope/core';
import type { ReleaseResult } from '@lockscope/sources';
import { LockctlCommand, safeMessage } from '../../base-command.js';
import { cliEnv } from '../../cli-env.js';
import { confirmOnTerminal } from '../../confirm.js';
import { EXIT_CODES_HELP } from '../../exit-codes.js';
import { loadSourcesBundle } from '../../load-backends.js';
import type { LockctlConfig } from '../../lockctl-config.js';
import { openSources, stopAll } from '../../open-sources.js';
import { recordAudit, type AuditDelivery } from '../../record-audit.js';
import { quoteForTerminal as q } from '../../terminal-quote.js';
import { isLockscopeErrorLike } from '../../lockscope-error-like.js';

export interface ReleaseOutput {
  released: boolean;
  source: string;
  name: string;
  holder: string | null;
  token: string | null;
  actions: string[];
  leaseKeys: string[] | null;
  audit: AuditDelivery;
}

interface AuditContext {
  loaded: LockctlConfig;
  actor: string;
  reason: string;
  source: string;
  name: string;
}

export default class Release extends LockctlCommand {
  static override summary = 'Force-release exactly the hold you observed (never a blind delete), with an audit record.';
  static override description = `Reads the lock, shows what it will do, asks for confirmation on a terminal (or takes --yes), then deletes only if the hold is still the one observed:
  etcd: a transaction that deletes the owner key only if its create_revision is still the observed fencing token; the next waiter then acquires as after a normal unlock. --revoke-lease also revokes the holder's lease after listing every key that goes with it.
  Redis: a Lua script that deletes only if the value (or Redisson holder field) is unchanged; for Redisson it also publishes the unlock message so waiters wake.
The old holder is not told: it may still believe it holds the lock.

Without a terminal and without --yes it refuses and deletes nothing. Every attempt on a held lock is recorded (who: OS user and host or --actor; why; holder; token; result) in the store, or when the store is down in .lockscope/audit-spool.jsonl beside the config file, shipped to the store by the next lockctl run that reaches it.

${EXIT_CODES_HELP}`;
  static override examples = [
    '<%= config.bin %> release /locks/billing-cron --source etcd-main --reason "holder pod is gone, INC-1234"',
    '<%= config.bin %> release lock:orders --source redis-main --reason "stuck since deploy" --expect-holder 6f1c... --yes',
  ];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ required: true, description: 'lock name as `lockctl ls` prints it, or its exact form hex:<key bytes in hex> when two keys show the same name' }) };
  static override flags = {
    source: Flags.string({ char: 's', description: '(required) the source holding the lock' }),
    reason: Flags.string({ char: 'r', description: '(required) why, for the audit record' }),
    yes: Flags.boolean({ char: 'y', description: 'do not ask for confirmation' }),
    'expect-holder': Flags.string({ description: 'refuse (exit 4) unless the holder is exactly this' }),
    'expect-token': Flags.string({ description: 'refuse (exit 4) unless the fencing token is exactly this' }),
    'revoke-lease': Flags.boolean({ description: 'etcd: also revoke the holder\'s lease (deletes every key attached to it)' }),
    actor: Flags.string({ description: 'who is doing this, for the audit record (default: LOCKSCOPE_ACTOR or the OS user)' }),
  };

  async run(): Promise<ReleaseOutput> {
    const { args, flags } = await this.parse(Release);
    if (!flags.source) throw new LockscopeError('BAD_REQUEST', 'Name the source with --source <name> (see `lockctl sources`); release never guesses.');
    if (!flags.reason?.trim()) throw new LockscopeError('BAD_REQUEST', 'Say why with --reason "<text>"; it goes into the audit record.');
    const loaded = this.lockscopeConfig(flags.config);
    const env = cliEnv();
    const ctx: AuditContext = { loaded, actor: flags.actor ?? env.LOCKSCOPE_ACTOR ?? env.user, reason: flags.reason.trim(), source: flags.source, name: args.name };
    const sources = await openSources(loaded, [flags.source]);
    const source = sources[0]!; // selectSources returns exactly the one named, or throws
    try {
      const { findLockByName } = await loadSourcesBundle();
      const found = await findLockByName(source, args.name);
      if (!found) throw new LockscopeError('LOCK_NOT_FOUND', `No lock named ${args.name} on ${flags.source}; run \`lockctl ls --source ${flags.source}\` to see the names.`);
      const lock = found.lock;
      // The audit names the lock as the collector stores it, even when it was picked by its hex: form.
      ctx.name = lock.name;
      const hold = lock.hold;
      if (!hold) throw new LockscopeError('LOCK_FREE', `${args.name} on ${flags.source} is already free: nothing to release.`);

      const expectHolder = flags['expect-holder'];
      const expectToken = flags['expect-token'];
      if ((expectHolder !== undefined && expectHolder !== hold.holder) || (expectToken !== undefined && expectToken !== hold.token)) {
        const error = new LockscopeError(
          'HOLDER_CHANGED',
          `${args.name} is held by ${hold.holder} with token ${hold.token ?? 'none'}, not the ${expectHolder !== undefined && expectHolder !== hold.holder ? `holder ${expectHolder}` : `token ${expectToken}`} you expected; nothing was deleted. Look again with \`lockctl show\`.`,
        );
        await this.audit(ctx, lock, 'holder_changed', { error: error.message });
        throw error;
      }

      const request = { name: found.lookupName, expectHoldId: hold.holdId, expectHolder: hold.holder, expectToken: hold.token, revokeLease: flags['revoke-lease'] };
      const plan = await source.release({ ...request, dryRun: true });
      this.printPlan(lock, plan);

      if (!flags.yes) {
        if (!process.stdin.isTTY) {
          await this.audit(ctx, lock, 'refused_unconfirmed', {});
          throw new LockscopeError('CONFIRMATION_REQUIRED', 'Refusing to release without confirmation: there is no terminal to ask on, so pass --yes if you mean it. Nothing was deleted.');
        }
        if (!(await confirmOnTerminal(`Release ${q(args.name)} held by ${q(hold.holder)}?`))) {
          await this.audit(ctx, lock, 'aborted', {});
          throw new LockscopeError('CONFIRMATION_REQUIRED', 'Not confirmed; nothing was deleted.');
        }
      }

      let result: ReleaseResult;
      try {
        result = await source.release({ ...request, dryRun: false });
      } catch (error) {
        const outcome = isLockscopeErrorLike(error, 'HOLDER_CHANGED') ? 'holder_changed' : isLockscopeErrorLike(error, 'LOCK_FREE') ? 'already_free' : 'failed';
        await this.audit(ctx, lock, outcome, { error: error instanceof Error ? error.message : String(error) });
        throw error;
      }
      const audit = await this.audit(ctx, lock, 'released', { actions: result.actions, leaseKeys: result.leaseKeys ?? null });
      process.stderr.write(`Released ${q(args.name)} on ${q(flags.source)} (was held by ${q(hold.holder)}, token ${q(hold.token ?? 'none')}).\n`);
      return {
        released: true,
        source: flags.source,
        name: args.name,
        holder: hold.holder,
        token: hold.token,
        actions: result.actions,
        leaseKeys: result.leaseKeys ?? null,
        audit,
      };
    } finally {
      await stopAll(sources);
    }
  }

  private printPlan(lock: LiveLock, plan: ReleaseResult): void {
    const lines = [
      `Lock ${q(lock.name)} on ${q(lock.source)} (${lock.dialect})`,
      `  holder ${q(lock.hold?.holder)}, token ${q(lock.hold?.token ?? 'none')}${lock.waiters && lock.waiters.length > 0 ? `, ${lock.waiters.length} waiting` : ''}`,
      'Will:',
      ...plan.actions.map((a) => `  - ${q(a, { maxLength: 2_000 })}`),
    ];
    if (plan.leaseKeys) lines.push(`Keys on the lease (${plan.leaseKeys.length}):`, ...plan.leaseKeys.map((k) => `  ${q(k)}`));
    process.stderr.write(`${lines.join('\n')}\n`);
  }

  private async audit(ctx: AuditContext, lock: LiveLock, result: string, detail: Record<string, unknown>): Promise<AuditDelivery> {
    const delivery = await recordAudit(ctx.loaded, {
      at: Date.now(),
      actor: ctx.actor,
      host: cliEnv().host,
      action: 'force_release',
      source: ctx.source,
      lockName: ctx.name,
      holder: lock.hold?.holder ?? null,
      token: lock.hold?.token ?? null,
      reason: ctx.reason,
      result,
      detail: JSON.stringify({ holdId: lock.hold?.holdId ?? null, dialect: lock.dialect, ...detail }),
    });
    if (delivery.to === 'spool') {
      process.stderr.write(`The store could not take the audit record (${safeMessage(delivery.storeError)}), so it was saved to ${q(delivery.path)} and will be shipped by the next lockctl run that reaches the store.\n`);
    }
    return delivery;
  }
}
