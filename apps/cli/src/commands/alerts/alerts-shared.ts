import { LockscopeError, parseDuration } from '@lockscope/core';
import type { Store } from '@lockscope/store';
import { isLockscopeErrorLike } from '../../lockscope-error-like.js';
import type { LockctlConfig } from '../../lockctl-config.js';
import { openConfiguredStore } from '../../store-access.js';
import { formatMs, formatRatio, formatTime, type Column } from '../../table.js';
import type { AlertJson } from './alert-schema.js';

/** The alerts topic's exit codes: same numbers as every command, with what they mean here. */
export const ALERTS_EXIT_CODES_HELP = `EXIT CODES
  0  done
  2  usage error (bad flag, unknown rule, bad duration, an id that is not a number, invalid lockscope.yaml)
  3  no alert with that id
  5  the store is unreachable (alerts live in the store the collector writes)
  1  unexpected failure`;

/** Ten years: longer is a typo, and past ~270,000 years it is a date that does not exist. */
export const MAX_CLI_DURATION_MS = 3650 * 86_400_000;

/** "30m", "1h", "1.5h", "2d", "500ms" -> ms, up to 3650d. Anything else is a usage error naming the flag. */
export function parseCliDuration(text: string, flag: string): number {
  let ms = NaN;
  try {
    ms = parseDuration(text.trim());
  } catch {
    // Not a duration at all: the sentence below says what is.
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new LockscopeError('BAD_REQUEST', `${flag} takes a duration like 30s, 30m, 1h or 2d (got ${JSON.stringify(text.slice(0, 40))}).`);
  }
  if (ms > MAX_CLI_DURATION_MS) {
    throw new LockscopeError('BAD_REQUEST', `${flag} takes a duration of at most 3650d (got ${JSON.stringify(text.slice(0, 40))}).`);
  }
  return ms;
}

/**
 * Opens the store for the alerts commands. Unlike `show`, they have nothing to
 * fall back to, so an unreachable store is exit 5 with what to check.
 */
export async function openAlertsStore(loaded: LockctlConfig): Promise<Store> {
  try {
    return await openConfiguredStore(loaded);
  } catch (error) {
    if (!isLockscopeErrorLike(error, 'STORE_UNAVAILABLE')) throw error;
    const where = loaded.path ? `store.url in ${loaded.path}` : 'store.url in lockscope.yaml (none was found, so the default applies)';
    throw new LockscopeError(
      'STORE_UNAVAILABLE',
      `Cannot reach the store, where the collector records alerts: ${error.message.replace(/\.$/, '')}. Check ${where} or DATABASE_URL, and that the database is up.`,
      { cause: error },
    );
  }
}

/** Prisma's "table does not exist": the store was never migrated. */
export function explainStoreError(error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code === 'P2021') {
    return new LockscopeError('STORE_UNAVAILABLE', 'The store has no alerts table yet: it was never migrated. Run `npm run db:migrate` (or start the collector) against store.url.', { cause: error });
  }
  return error;
}

/** Rules whose value is a share of the lease; the others are milliseconds or a count. */
function formatMeasure(rule: string, n: number | null): string | null {
  if (n === null) return null;
  if (rule === 'near_expiry') return formatRatio(n);
  if (rule === 'high_contention') return String(Math.round(n));
  return formatMs(n);
}

export function valueAndThreshold(a: AlertJson): string {
  return `${formatMeasure(a.rule, a.value) ?? '-'} / ${formatMeasure(a.rule, a.threshold) ?? '-'}`;
}

/** "acked by who" and/or "silenced until when" (only while the silence lasts). */
export function ackAndSilence(a: AlertJson, now: number): string | null {
  const parts: string[] = [];
  if (a.ackedAt !== null) parts.push(`acked by ${a.ackedBy ?? '?'}`);
  if (a.silencedUntil !== null && a.silencedUntil > now) parts.push(`silenced until ${formatTime(a.silencedUntil)}`);
  return parts.length === 0 ? null : parts.join(', ');
}

export function alertColumns(now: number): Column<AlertJson>[] {
  return [
    { header: 'ID', get: (a) => a.id, align: 'right' },
    { header: 'RULE', get: (a) => a.rule, max: 20 },
    { header: 'LOCK', get: (a) => a.lockName, max: 60 },
    { header: 'SOURCE', get: (a) => a.source, max: 24 },
    { header: 'STATE', get: (a) => a.state },
    { header: 'STARTED', get: (a) => formatTime(a.startedAt) },
    { header: 'VALUE / THRESHOLD', get: valueAndThreshold },
    { header: 'ACK / SILENCE', get: (a) => ackAndSilence(a, now), max: 80 },
  ];
}

/** One line naming an alert for confirmations: `12 near_expiry on redis-main:lock:orders`. */
export function describeAlert(a: AlertJson): string {
  return `${a.id} ${a.rule} on ${a.source}${a.lockName === null ? '' : `:${a.lockName}`}`;
}
