export { ALERT_RULES, isAlertRule, type AlertRule } from './rule-names.js';
export { AlertPolicy, type AlertsConfigInput, type LockRef, type LockThresholds } from './alert-policy.js';
export {
  AlertEngine,
  MAX_WAITS_PER_LOCK,
  formatMs,
  quantile95,
  showText,
  type AlertTransition,
  type OpenAlertSeed,
  type RestoredHold,
  type SourceHealthInput,
} from './alert-engine.js';
