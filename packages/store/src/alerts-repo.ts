// Alert reads and on-call actions over the store, shared by the collector, the
// dashboard API and `lockctl alerts`. Writes take the store's turn
// (store.serialized) so they are safe inside the collector on SQLite too.
import { ALERT_RULES, isAlertRule, LockscopeError, type AlertRule } from '@lockscope/core';
import type { Alert } from './generated/postgresql/client/client.js';
import type { Store } from './store.js';
import type { StoreClient } from './store-client.js';

/** An alert as JSON-safe plain data (epoch-ms numbers, id as a decimal string). */
export interface AlertView {
  id: string;
  rule: string;
  state: 'firing' | 'resolved';
  source: string;
  lockId: string | null;
  lockName: string | null;
  startedAt: number;
  resolvedAt: number | null;
  value: number | null;
  threshold: number | null;
  message: string;
  ackedAt: number | null;
  ackedBy: string | null;
  silencedUntil: number | null;
}

export function alertView(row: Alert): AlertView {
  return {
    id: row.id.toString(),
    rule: row.rule,
    state: row.state === 'firing' ? 'firing' : 'resolved',
    source: row.source,
    lockId: row.lockId,
    lockName: row.lockName,
    startedAt: Number(row.startedAt),
    resolvedAt: row.resolvedAt === null ? null : Number(row.resolvedAt),
    value: row.value,
    threshold: row.threshold,
    message: row.message,
    ackedAt: row.ackedAt === null ? null : Number(row.ackedAt),
    ackedBy: row.ackedBy,
    silencedUntil: row.silencedUntil === null ? null : Number(row.silencedUntil),
  };
}

export interface ListAlertsOptions {
  state?: 'firing' | 'resolved';
  rule?: string;
  source?: string;
  lockId?: string;
  /** Only alerts started at or after this wall ms. */
  since?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Newest first. An unknown rule is a BAD_REQUEST naming the known ones. */
export async function listAlerts(store: Store, options: ListAlertsOptions = {}): Promise<AlertView[]> {
  if (options.rule !== undefined) checkRule(options.rule);
  const limit = Math.min(1_000, Math.max(1, Math.floor(options.limit ?? 100)));
  const rows = await store.prisma.alert.findMany({
    where: {
      ...(options.state ? { state: options.state } : {}),
      ...(options.rule ? { rule: options.rule } : {}),
      ...(options.source ? { source: options.source } : {}),
      ...(options.lockId ? { lockId: options.lockId } : {}),
      ...(options.since !== undefined ? { startedAt: { gte: BigInt(Math.floor(options.since)) } } : {}),
    },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    take: limit,
  });
  return rows.map(alertView);
}

export interface AckAlertInput {
  id: string | number | bigint;
  /** Who acknowledged (user name, `lockctl@host`). */
  by: string;
  /** Also silence its notifications for this long. */
  silenceForMs?: number;
  at?: number;
}

/** Acknowledges an alert (idempotent: a second ack records the latest one). */
export async function ackAlert(store: Store, input: AckAlertInput): Promise<AlertView> {
  const id = parseAlertId(input.id);
  const by = input.by.trim();
  if (by.length === 0 || by.length > 200) throw new LockscopeError('BAD_REQUEST', 'Say who acknowledges the alert (1 to 200 characters).');
  const at = input.at ?? Date.now();
  const silencedUntil = input.silenceForMs === undefined ? undefined : BigInt(at + checkSilence(input.silenceForMs));
  const row = await store.serialized(async (prisma) => {
    await findAlert(prisma, id);
    return prisma.alert.update({
      where: { id },
      data: { ackedAt: BigInt(at), ackedBy: by, ...(silencedUntil !== undefined ? { silencedUntil } : {}) },
    });
  });
  return alertView(row);
}

export interface SilenceAlertInput {
  id: string | number | bigint;
  forMs: number;
  at?: number;
}

/**
 * Silences an alert's notifications for a while. The silence also covers the
 * next alert of the same rule on the same lock (or source) that opens before
 * it ends, so a flapping alert stays quiet.
 */
export async function silenceAlert(store: Store, input: SilenceAlertInput): Promise<AlertView> {
  const id = parseAlertId(input.id);
  const at = input.at ?? Date.now();
  const until = BigInt(at + checkSilence(input.forMs));
  const row = await store.serialized(async (prisma) => {
    await findAlert(prisma, id);
    return prisma.alert.update({ where: { id }, data: { silencedUntil: until } });
  });
  return alertView(row);
}

/** Every delivery attempt of an alert, oldest first. */
export async function listDeliveries(store: Store, alertId: string | number | bigint) {
  const id = parseAlertId(alertId);
  const rows = await store.prisma.delivery.findMany({ where: { alertId: id }, orderBy: { id: 'asc' } });
  return rows.map((r) => ({ id: r.id.toString(), alertId: r.alertId.toString(), webhook: r.webhook, kind: r.kind, at: Number(r.at), attempt: r.attempt, status: r.status, ok: r.ok, error: r.error }));
}

const MAX_SILENCE_MS = 30 * 24 * 3_600_000;

function checkSilence(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_SILENCE_MS) {
    throw new LockscopeError('BAD_REQUEST', `A silence lasts more than 0 and at most 30 days (got ${ms} ms).`);
  }
  return Math.round(ms);
}

function checkRule(rule: string): AlertRule {
  if (!isAlertRule(rule)) throw new LockscopeError('BAD_REQUEST', `Unknown alert rule ${JSON.stringify(rule)}; known rules: ${ALERT_RULES.join(', ')}.`);
  return rule;
}

export function parseAlertId(id: string | number | bigint): bigint {
  if (typeof id === 'bigint') return id;
  const text = String(id).trim();
  if (!/^[1-9]\d{0,18}$/.test(text)) throw new LockscopeError('BAD_REQUEST', `${JSON.stringify(String(id).slice(0, 40))} is not an alert id (a positive whole number).`);
  return BigInt(text);
}

async function findAlert(prisma: StoreClient, id: bigint): Promise<Alert> {
  const row = await prisma.alert.findUnique({ where: { id } });
  if (!row) throw new LockscopeError('NOT_FOUND', `There is no alert ${id}; \`lockctl alerts\` lists them.`);
  return row;
}

// ---- the collector's alert writes ---------------------------------------------------------

/** An alert opening, as the collector's AlertManager records it. */
export interface OpenAlertInput {
  rule: string;
  lockId: string | null;
  source: string;
  lockName: string | null;
  startedAt: number;
  value: number | null;
  threshold: number | null;
  message: string;
  /** Dedup key while open (unique in the store). */
  openKey: string;
}

/** Every alert still firing (a restarted collector adopts them, so they resolve instead of repeating). */
export function loadFiringAlerts(store: Store): Promise<Alert[]> {
  return store.serialized((prisma) => prisma.alert.findMany({ where: { state: 'firing' } }));
}

/**
 * Records an alert opening. A silence set on an earlier alert of the same rule and lock
 * still holds for it. Returns null when it is already open (another collector or an earlier
 * run opened it: the unique openKey deduplicates, and nobody is paged twice).
 */
export function openAlert(store: Store, input: OpenAlertInput): Promise<Alert | null> {
  return store.serialized(async (prisma) => {
    const startedAt = BigInt(Math.round(input.startedAt));
    const silenced = await prisma.alert.findFirst({
      where: { rule: input.rule, source: input.source, lockId: input.lockId, silencedUntil: { gt: startedAt } },
      orderBy: { silencedUntil: 'desc' },
      select: { silencedUntil: true },
    });
    try {
      return await prisma.alert.create({
        data: {
          rule: input.rule,
          lockId: input.lockId,
          source: input.source,
          lockName: input.lockName,
          state: 'firing',
          startedAt,
          value: input.value,
          threshold: input.threshold,
          message: input.message,
          openKey: input.openKey,
          silencedUntil: silenced?.silencedUntil ?? null,
        },
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') return null;
      throw error;
    }
  });
}

/** Resolves the alert open under `openKey`; null when none is open. */
export function resolveAlert(store: Store, openKey: string, at: number): Promise<Alert | null> {
  return store.serialized(async (prisma) => {
    const open = await prisma.alert.findUnique({ where: { openKey } });
    if (!open) return null;
    return prisma.alert.update({ where: { id: open.id }, data: { state: 'resolved', resolvedAt: BigInt(Math.round(at)), openKey: null } });
  });
}

/** One webhook delivery attempt of an alert, for the delivery log. */
export interface DeliveryInput {
  alertId: string;
  webhook: string;
  kind: string;
  at: number;
  attempt: number;
  status: number | null;
  ok: boolean;
  error: string | null;
}

export async function recordDelivery(store: Store, d: DeliveryInput): Promise<void> {
  await store.serialized((prisma) =>
    prisma.delivery.create({
      data: { alertId: BigInt(d.alertId), webhook: d.webhook, kind: d.kind, at: BigInt(Math.round(d.at)), attempt: d.attempt, status: d.status, ok: d.ok, error: d.error === null ? null : d.error.slice(0, 500) },
    }),
  );
}
