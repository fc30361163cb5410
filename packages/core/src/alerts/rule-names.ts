/** Every alert rule Lockscope evaluates; config names rules with these strings. */
export const ALERT_RULES = [
  'near_expiry',
  'lease_expired',
  'slow_acquisition',
  'high_contention',
  'long_hold',
  'source_down',
  // Critical safety hazards (docs/hazards.md), raised by the hazard detectors rather than the alert engine.
  'unsafe_handover',
  'stale_token_accepted',
  'token_regression',
  'deadlock',
  'lost_in_failover',
] as const;

export type AlertRule = (typeof ALERT_RULES)[number];

export function isAlertRule(name: string): name is AlertRule {
  return (ALERT_RULES as readonly string[]).includes(name);
}
