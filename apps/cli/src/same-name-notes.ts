import { HEX_NAME_PREFIX } from '@lockscope/core';
import { quoteForTerminal as q } from './terminal-quote.js';

/**
 * One line per name that more than one key on a source displays as (byte 0xFF and the
 * text `\xff`), giving the exact `hex:` forms a person can pass to show and release.
 * Table cells are cut to the column width; these lines carry the full forms.
 */
export function sameNameNotes(rows: readonly { source: string; name: string; keyHex: string }[]): string[] {
  const byName = new Map<string, { source: string; name: string; keys: Set<string> }>();
  for (const row of rows) {
    const id = JSON.stringify([row.source, row.name]);
    const entry = byName.get(id) ?? { source: row.source, name: row.name, keys: new Set<string>() };
    entry.keys.add(row.keyHex);
    byName.set(id, entry);
  }
  return [...byName.values()]
    .filter((e) => e.keys.size > 1)
    .map((e) => `Note: ${e.keys.size} different keys on ${q(e.source)} show as ${q(e.name)}; name one by its exact form: ${[...e.keys].map((k) => `${HEX_NAME_PREFIX}${k}`).join(', ')}`);
}
