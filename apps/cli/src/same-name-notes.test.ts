import { describe, expect, it } from 'vitest';
import { sameNameNotes } from './same-name-notes.js';

describe('sameNameNotes', () => {
  it('lists the exact forms of keys that display the same on one source, and nothing otherwise', () => {
    const rows = [
      { source: 'redis-main', name: 'lock:\\xff', keyHex: '6c6f636b3aff' },
      { source: 'redis-main', name: 'lock:\\xff', keyHex: '6c6f636b3a5c786666' },
      { source: 'redis-other', name: 'lock:\\xff', keyHex: '6c6f636b3aff' },
      { source: 'redis-main', name: 'lock:a', keyHex: '6c6f636b3a61' },
    ];
    expect(sameNameNotes(rows)).toEqual([
      'Note: 2 different keys on redis-main show as lock:\\xff; name one by its exact form: hex:6c6f636b3aff, hex:6c6f636b3a5c786666',
    ]);
    expect(sameNameNotes(rows.slice(2))).toEqual([]);
  });

  it('quotes the name for the terminal', () => {
    const rows = [
      { source: 's', name: 'k\u001b[2J', keyHex: '01' },
      { source: 's', name: 'k\u001b[2J', keyHex: '02' },
    ];
    expect(sameNameNotes(rows)[0]).toContain('show as k\\e[2J;');
  });
});
