import { LockscopeError } from '@lockscope/core';
import { ackAlert, alertView, listAlerts, listDeliveries, parseAlertId, silenceAlert, type AckAlertInput, type AlertView, type ListAlertsOptions, type SilenceAlertInput } from '../alerts-repo.js';
import type { Store } from '../store.js';
import { readStore } from './query-db.js';

export type AlertDelivery = Awaited<ReturnType<typeof listDeliveries>>[number];

export interface AlertDetail {
  alert: AlertView;
  /** Webhook attempts, oldest first. */
  deliveries: AlertDelivery[];
}

// The alerts repository lets driver errors through; these wrappers turn them
// into STORE_UNAVAILABLE (as every other read service does) so the API answers
// 503 with a sentence instead of 500.

export function queryAlerts(store: Store, options: ListAlertsOptions = {}): Promise<AlertView[]> {
  return readStore('alerts', () => listAlerts(store, options));
}

/** One alert and its delivery log; NOT_FOUND when there is no such alert. */
export async function getAlertDetail(store: Store, alertId: string | number | bigint): Promise<AlertDetail> {
  const id = parseAlertId(alertId);
  return readStore('alert', async () => {
    const row = await store.prisma.alert.findUnique({ where: { id } });
    if (!row) throw new LockscopeError('NOT_FOUND', `There is no alert ${id}.`, { details: { id: id.toString() } });
    return { alert: alertView(row), deliveries: await listDeliveries(store, id) };
  });
}

export function acknowledgeAlert(store: Store, input: AckAlertInput): Promise<AlertView> {
  return readStore('alert acknowledgement', () => ackAlert(store, input));
}

export function silenceAlertFor(store: Store, input: SilenceAlertInput): Promise<AlertView> {
  return readStore('alert silence', () => silenceAlert(store, input));
}
