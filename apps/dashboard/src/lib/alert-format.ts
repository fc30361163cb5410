import type { AlertView } from '@lockscope/store';
import { formatMs, formatPct } from './format';

/** Value against threshold in the rule's own unit (docs/alerts.md). */
export function formatAlertValue(a: Pick<AlertView, 'rule' | 'value' | 'threshold'>): string {
  if (a.value === null && a.threshold === null) return '—';
  const fmt = (v: number | null): string => {
    if (v === null) return '—';
    switch (a.rule) {
      case 'near_expiry':
        return formatPct(v);
      case 'high_contention':
        return `${Math.round(v * 100) / 100} waiters`;
      default:
        return formatMs(v);
    }
  };
  return `${fmt(a.value)} / ${fmt(a.threshold)}`;
}

export const SILENCE_CHOICES: { label: string; ms: number }[] = [
  { label: '15 min', ms: 15 * 60_000 },
  { label: '1 h', ms: 3_600_000 },
  { label: '4 h', ms: 4 * 3_600_000 },
  { label: '24 h', ms: 24 * 3_600_000 },
  { label: '7 days', ms: 7 * 24 * 3_600_000 },
];
