import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LockscopeError } from '@lockscope/core';
import { waitAtMost } from '../deadline.js';

/** Flags the source needs: keyspace channel, generic (del/expire), string, hash, expired, evicted, list, zset. */
const NEEDED_FLAGS = ['K', 'g', '$', 'h', 'x', 'e', 'l', 'z'];
/** What `A` stands for in notify-keyspace-events. */
const ALL_ALIAS = 'g$lshzxetd';
/**
 * The setting the source asks for. `K` (keyspace channel) only: `E` would make Redis
 * publish every event a second time on a keyevent channel the source never reads.
 */
export const SUGGESTED_NOTIFY_FLAGS = 'Kg$hlzxe';

/** The flags the source needs that `current` (a notify-keyspace-events value) lacks. */
export function missingNotifyFlags(current: string): string[] {
  const has = (flag: string) => current.includes(flag) || (flag !== 'K' && current.includes('A') && ALL_ALIAS.includes(flag));
  return NEEDED_FLAGS.filter((flag) => !has(flag));
}

/** The value to set: what the source needs plus whatever else was already asked for. */
export function wantedNotifyFlags(current: string): string {
  return SUGGESTED_NOTIFY_FLAGS + [...current].filter((flag) => !SUGGESTED_NOTIFY_FLAGS.includes(flag)).join('');
}

/** notify-keyspace-events now, or null when CONFIG is not available (renamed away on managed Redis). */
export async function readNotifyFlags(cmd: Redis): Promise<string | null> {
  try {
    const reply = (await cmd.config('GET', 'notify-keyspace-events')) as string[];
    return reply[1] ?? '';
  } catch {
    return null;
  }
}

export interface NotificationContext {
  /** Source name and password-free URL, for messages. */
  name: string;
  safeUrl: string;
  /** `__keyspace@<db>__:` */
  channelPrefix: string;
  enableNotifications: boolean;
  /** Receives the subscriber's plain (non-pattern) messages while a probe runs. */
  setProbeListener: (listener: ((channel: Buffer, message: Buffer) => void) | null) => void;
}

/** The SOURCE_MISCONFIGURED error that tells a person which setting to add. */
export function notificationsError(context: NotificationContext, wanted: string, why: string): LockscopeError {
  const setting = `notify-keyspace-events ${wanted}`;
  const message =
    `Redis source "${context.name}" (${context.safeUrl}) needs keyspace notifications: add \`${setting}\` to redis.conf ` +
    `(or run CONFIG SET ${setting}); ${why}.`;
  return new LockscopeError('SOURCE_MISCONFIGURED', message, { details: { source: context.name, setting } });
}

/**
 * Reads notify-keyspace-events and, when allowed, adds what is missing.
 * Where CONFIG is unavailable (managed Redis), a probe key shows whether
 * notifications arrive at all. Throws SOURCE_MISCONFIGURED when they stay off.
 */
export async function ensureNotifications(cmd: Redis, sub: Redis, context: NotificationContext): Promise<'on' | 'enabled-by-lockscope'> {
  const current = await readNotifyFlags(cmd);
  if (current === null) {
    if (await probeNotifications(cmd, sub, context)) return 'on';
    throw notificationsError(context, SUGGESTED_NOTIFY_FLAGS, 'CONFIG is not available to check or enable it and a probe key produced no notifications');
  }
  const missing = missingNotifyFlags(current);
  if (missing.length === 0) return 'on';
  const wanted = wantedNotifyFlags(current);
  const why = `it is "${current}", missing ${missing.join(' ')}`;
  if (!context.enableNotifications) throw notificationsError(context, wanted, `${why}, and enableNotifications is false`);
  try {
    await cmd.config('SET', 'notify-keyspace-events', wanted);
  } catch (error) {
    throw notificationsError(context, wanted, `${why}, and CONFIG SET failed (${error instanceof Error ? error.message : String(error)})`);
  }
  return 'enabled-by-lockscope';
}

/** Writes and deletes a throwaway key and waits for its notifications. */
async function probeNotifications(cmd: Redis, sub: Redis, context: NotificationContext): Promise<boolean> {
  const probeKey = `lockscope:probe:${randomUUID()}`;
  const channel = `${context.channelPrefix}${probeKey}`;
  const seen = new Set<string>();
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  context.setProbeListener((ch, message) => {
    if (ch.toString('latin1') !== channel) return;
    seen.add(message.toString('latin1'));
    if (['set', 'expire', 'del'].every((e) => seen.has(e))) resolveAll();
  });
  await sub.subscribe(channel);
  try {
    await cmd.set(probeKey, '1', 'PX', 10_000);
    await cmd.del(probeKey);
    await waitAtMost(all, 1_000);
    return ['set', 'expire', 'del'].every((e) => seen.has(e));
  } finally {
    context.setProbeListener(null);
    await sub.unsubscribe(channel);
  }
}
