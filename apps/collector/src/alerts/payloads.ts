import { createHash, createHmac } from 'node:crypto';
import type { AlertRule } from '@lockscope/core';

/** One firing or resolved notification: what every webhook format is built from. */
export interface AlertNotification {
  /** Store id of the alert (decimal string); null when the store could not record it. */
  id: string | null;
  status: 'firing' | 'resolved';
  rule: AlertRule;
  /** `<rule>|<lockId>` or `source_down|<source>`: stable across firing and resolved. */
  key: string;
  source: string;
  lockId: string | null;
  lockName: string | null;
  /** Wall ms. */
  startedAt: number;
  resolvedAt: number | null;
  value: number | null;
  threshold: number | null;
  /** What went wrong (the alert's message). */
  message: string;
  /** Why it resolved; null while firing. */
  resolution: string | null;
}

export type WebhookFormat = 'lockscope' | 'slack' | 'alertmanager';

export const SIGNATURE_HEADER = 'X-Lockscope-Signature';

const MAX_LABEL = 1_024;

/** `sha256=<hex>` HMAC-SHA256 of the exact request body bytes. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

const SEVERITY: Record<AlertRule, 'critical' | 'warning'> = {
  near_expiry: 'critical',
  lease_expired: 'critical',
  source_down: 'critical',
  slow_acquisition: 'warning',
  high_contention: 'warning',
  long_hold: 'warning',
  unsafe_handover: 'critical',
  stale_token_accepted: 'critical',
  token_regression: 'critical',
  deadlock: 'critical',
  lost_in_failover: 'critical',
};

/** The request body for one webhook, as the exact string that is signed and sent. */
export function buildBody(format: WebhookFormat, n: AlertNotification, receiver: string, sentAt: number): string {
  switch (format) {
    case 'lockscope':
      return JSON.stringify(lockscopePayload(n, sentAt));
    case 'slack':
      return JSON.stringify(slackPayload(n));
    case 'alertmanager':
      return JSON.stringify(alertmanagerPayload(n, receiver));
  }
}

/** Lockscope's own format (documented in docs/alerts.md). */
export function lockscopePayload(n: AlertNotification, sentAt: number) {
  return {
    version: 1,
    event: n.status === 'firing' ? 'alert.firing' : 'alert.resolved',
    sentAt: iso(sentAt),
    alert: {
      id: n.id,
      key: n.key,
      rule: n.rule,
      severity: SEVERITY[n.rule],
      status: n.status,
      source: n.source,
      lockId: n.lockId,
      lockName: n.lockName,
      startedAt: iso(n.startedAt),
      resolvedAt: n.resolvedAt === null ? null : iso(n.resolvedAt),
      value: n.value,
      threshold: n.threshold,
      message: n.message,
      resolution: n.resolution,
    },
  };
}

/** Slack incoming-webhook body: `text` for notifications, one mrkdwn section for the channel. */
export function slackPayload(n: AlertNotification) {
  const head = n.status === 'firing' ? `:rotating_light: *${n.rule}* firing on ${slackEscape(n.source)}` : `:white_check_mark: *${n.rule}* resolved on ${slackEscape(n.source)}`;
  const body = n.status === 'firing' ? n.message : `${n.resolution ?? 'resolved'} (was: ${n.message})`;
  const text = `${head}\n${slackEscape(body)}`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/** Slack treats &, < and > as markup (links, mentions): a lock name must not become one. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Alertmanager's webhook_config body (version 4), so receivers written for
 * Alertmanager (routing, dedup by fingerprint) work unchanged.
 */
export function alertmanagerPayload(n: AlertNotification, receiver: string) {
  const labels: Record<string, string> = { alertname: n.rule, severity: SEVERITY[n.rule], source: n.source };
  // Label values are indexed by Alertmanager and its receivers: a huge key name is cut (lock_id stays exact).
  if (n.lockName !== null) labels.lock = n.lockName.length > MAX_LABEL ? `${n.lockName.slice(0, MAX_LABEL)}…` : n.lockName;
  if (n.lockId !== null) labels.lock_id = n.lockId;
  const annotations: Record<string, string> = { summary: n.message, description: n.resolution ?? n.message };
  if (n.value !== null) annotations.value = String(n.value);
  if (n.threshold !== null) annotations.threshold = String(n.threshold);
  return {
    version: '4',
    groupKey: `{}:{alertname=${JSON.stringify(n.rule)}, lock_id=${JSON.stringify(n.lockId ?? '')}, source=${JSON.stringify(n.source)}}`,
    truncatedAlerts: 0,
    status: n.status,
    receiver,
    groupLabels: { alertname: n.rule },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: '',
    alerts: [
      {
        status: n.status,
        labels,
        annotations,
        startsAt: iso(n.startedAt),
        // Alertmanager's zero time means "still firing".
        endsAt: n.resolvedAt === null ? '0001-01-01T00:00:00Z' : iso(n.resolvedAt),
        generatorURL: '',
        fingerprint: fingerprint(labels),
      },
    ],
  };
}

/** 16 hex digits over the sorted label set: equal labels, equal fingerprint, as in Alertmanager. */
export function fingerprint(labels: Record<string, string>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) h.update(k).update('\xff').update(labels[k]!).update('\xff');
  return h.digest('hex').slice(0, 16);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
