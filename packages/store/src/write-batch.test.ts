import { isLockscopeError } from '@lockscope/core';
import { describe, expect, it } from 'vitest';
import { eventSpec, holdSpec, lastByKey, lockSpec, MAX_PARAMS_PER_STATEMENT, statements } from './write-batch.js';
import type { EventRow, LockRow } from './types.js';

const event = (i: number): EventRow => ({ lockId: `l${i}`, source: 's', at: 1_000 + i, type: 'acquired' });

describe('multi-row statements', () => {
  it('chunk under the bind-parameter limit and keep every value in order', () => {
    const perStatement = Math.floor(MAX_PARAMS_PER_STATEMENT / eventSpec.columns.length);
    const rows = Array.from({ length: perStatement * 2 + 7 }, (_, i) => event(i));
    const sql = statements(eventSpec, rows);
    expect(sql.map((s) => s.values.length)).toEqual([perStatement, perStatement, 7].map((n) => n * eventSpec.columns.length));
    for (const s of sql) {
      expect(s.values.length).toBeLessThanOrEqual(MAX_PARAMS_PER_STATEMENT);
      // SQLite placeholders (?) and PostgreSQL placeholders ($n) both match the value count.
      expect(s.sql.match(/\?/g)!.length).toBe(s.values.length);
      expect(s.text).toContain(`$${s.values.length})`);
      expect(s.text).not.toContain(`$${s.values.length + 1}`);
    }
    const ats = sql.flatMap((s) => s.values.filter((v, i) => i % eventSpec.columns.length === 2));
    expect(ats).toEqual(rows.map((r) => BigInt(r.at)));
  });

  it('spell the conflict clause per table with double-quoted identifiers', () => {
    const [append] = statements(eventSpec, [event(1)]);
    expect(append!.sql).toBe(
      'INSERT INTO "Event" ("lockId", "source", "at", "type", "holder", "token", "ttlMs", "valueMs", "revision", "detail") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const [hold] = statements(holdSpec, [{ lockId: 'l', holdKey: 'k', acquiredAt: 1, endedAt: 2, heldMs: 1, endReason: 'released' }]);
    expect(hold!.sql).toMatch(/\) ON CONFLICT \("lockId", "holdKey"\) DO NOTHING$/);
    const [lock] = statements(lockSpec, [{ id: 'a', source: 's', name: 'n', rawKey: '6e', dialect: 'd', firstSeenAt: 1, lastChangeAt: 1 }]);
    expect(lock!.sql).toMatch(/ON CONFLICT \("id"\) DO UPDATE SET "dialect" = excluded\."dialect", .*"expirations" = excluded\."expirations"$/);
    expect(lock!.sql).not.toContain('"id" = excluded');
    // What the id fixes (and the first sighting) is never rewritten: it spares the (source, ...) index updates.
    for (const kept of ['source', 'rawKey', 'name', 'firstSeenAt']) expect(lock!.sql).not.toContain(`"${kept}" = excluded`);
  });

  it('convert epoch ms to bigint, fill defaults, and escape NUL', () => {
    const values = lockSpec.values({ id: 'a', source: 's', name: 'x\u0000y', rawKey: '78', dialect: 'd', firstSeenAt: 1.9, lastChangeAt: 2 } satisfies LockRow);
    expect(values).toEqual(['a', 's', 'x\\x00y', '78', 'd', false, null, null, null, null, null, null, null, 0, null, null, null, 1n, 2n, 0, 0]);
  });

  it('refuse non-finite times and out-of-range integers with BAD_REQUEST', () => {
    for (const bad of [() => eventSpec.values({ ...event(1), at: Infinity }), () => eventSpec.values({ ...event(1), ttlMs: 2 ** 31 })]) {
      let caught: unknown;
      try {
        bad();
      } catch (error) {
        caught = error;
      }
      expect(isLockscopeError(caught, 'BAD_REQUEST')).toBe(true);
    }
  });
});

describe('lastByKey', () => {
  it('keeps the last row per key (PostgreSQL refuses to upsert one row twice in a statement)', () => {
    const rows = [{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }];
    expect(lastByKey(rows, (r) => r.k)).toEqual([{ k: 'b', v: 2 }, { k: 'a', v: 3 }]);
    const unique = [{ k: 'a', v: 1 }];
    expect(lastByKey(unique, (r) => r.k)).toBe(unique);
  });
});
