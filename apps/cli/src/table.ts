import { quoteForTerminal } from './terminal-quote.js';

export interface Column<T> {
  header: string;
  /** Raw value; strings from backends are quoted here, so callers never print them directly. */
  get: (row: T) => string | null | undefined;
  /** Longest cell before it is shortened with an ellipsis. */
  max?: number;
  align?: 'left' | 'right';
}

/** A plain text table: header, then one line per row, columns separated by two spaces. */
export function renderTable<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => quoteForTerminal(c.get(row), { maxLength: c.max ?? 60 })));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => [...r[i]!].length)));
  const pad = (text: string, i: number) => {
    const gap = ' '.repeat(widths[i]! - [...text].length);
    return columns[i]!.align === 'right' ? gap + text : text + gap;
  };
  const lines = [columns.map((c, i) => pad(c.header, i)).join('  ').trimEnd()];
  for (const row of cells) lines.push(row.map((cell, i) => pad(cell, i)).join('  ').trimEnd());
  return lines.join('\n');
}

/** 1234 -> "1.2s", 65000 -> "1m05s"; null -> null (printed as "-"). */
export function formatMs(ms: number | null): string | null {
  if (ms === null) return null;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, '0')}s`;
  const minutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export function formatRatio(ratio: number | null): string | null {
  return ratio === null ? null : `${Math.round(ratio * 100)}%`;
}

export function formatTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
