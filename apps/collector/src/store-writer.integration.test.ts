import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, type EventRow } from '@lockscope/store';
import { workerWriter } from './store-writer.js';

const event = (at: number): EventRow => ({ lockId: 'lock-a', source: 's', at, type: 'acquired', holder: 'h', token: null, ttlMs: null, valueMs: null });

describe('the store worker writer', () => {
  it('after a failed batch refuses the next ones unwritten until resume, so a retry cannot land behind a newer batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-writer-'));
    const url = `file:${join(dir, 'w.db')}`;
    const store = await openStore({ url });
    const writer = workerWriter(url);
    try {
      await store.migrate();
      await writer.writeBatch({ events: [event(1)] });
      // A value the store refuses fails that batch ...
      await expect(writer.writeBatch({ events: [event(Number.NaN)] })).rejects.toThrow(/Event.at/);
      // ... and the one sent behind it is not written.
      await expect(writer.writeBatch({ events: [event(2)] })).rejects.toThrow(/not written: an earlier batch failed/);
      writer.resume!();
      await writer.writeBatch({ events: [event(3)] });
      const ats = (await store.prisma.event.findMany({ orderBy: { id: 'asc' } })).map((e) => Number(e.at));
      expect(ats).toEqual([1, 3]);
    } finally {
      await writer.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
