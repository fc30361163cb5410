export const RANGES = { '15m': 15 * 60_000, '1h': 60 * 60_000, '6h': 6 * 60 * 60_000, '24h': 24 * 60 * 60_000, '7d': 7 * 24 * 60 * 60_000 } as const;
export type RangeKey = keyof typeof RANGES | 'custom';

export interface ResolvedRange {
  key: RangeKey;
  from: number;
  to: number;
  /** Rolling ranges follow "now"; custom ones are fixed. */
  rolling: boolean;
  invalid?: string;
}

/** Reads ?range=1h or ?range=custom&from=<ms>&to=<ms>; anything else falls back to 1 h with a note. */
export function resolveRange(params: URLSearchParams, now: number): ResolvedRange {
  const key = params.get('range') ?? '1h';
  if (key === 'custom') {
    const from = Number(params.get('from'));
    const to = Number(params.get('to'));
    if (Number.isInteger(from) && Number.isInteger(to) && from > 0 && to > from) return { key: 'custom', from, to, rolling: false };
    return { key: '1h', from: now - RANGES['1h'], to: now, rolling: true, invalid: 'The custom range in the URL is not valid; showing the last hour.' };
  }
  if (key in RANGES) {
    const span = RANGES[key as keyof typeof RANGES];
    return { key: key as RangeKey, from: now - span, to: now, rolling: true };
  }
  return { key: '1h', from: now - RANGES['1h'], to: now, rolling: true, invalid: `Unknown range "${key}"; showing the last hour.` };
}

/** For <input type="datetime-local">: local time without seconds. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function fromLocalInput(text: string): number | null {
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms : null;
}
