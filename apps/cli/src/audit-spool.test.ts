import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditInput } from '@lockscope/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendToSpool, readSpool, shipSpool, spoolPath } from './audit-spool.js';

const record = (n: number): AuditInput => ({
  at: 1_700_000_000_000 + n,
  actor: 'alice',
  host: 'ops-1',
  action: 'force_release',
  source: 'etcd-main',
  lockName: `/locks/job-${n}`,
  holder: '694d8a1c',
  token: String(100 + n),
  reason: 'stuck',
  result: 'released',
  detail: null,
});

// The store side is a recorder that can be told to fail: the subject here is
// the spool's file handling; shipping to a real SQLite store is covered by
// lockctl.integration.test.ts.
function recorder(failAfter = Infinity) {
  const got: AuditInput[] = [];
  return {
    got,
    async recordAudit(r: AuditInput) {
      if (got.length >= failAfter) throw new Error('store went away');
      got.push(r);
      return { ...r, id: got.length, holder: r.holder ?? null, token: r.token ?? null, detail: r.detail ?? null, role: r.role ?? null, target: r.target ?? null };
    },
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockctl-spool-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('audit spool', () => {
  it('appends one JSON line per record, readable back in order', () => {
    appendToSpool(dir, record(1));
    appendToSpool(dir, record(2));
    expect(readFileSync(spoolPath(dir), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readSpool(dir)).toEqual([record(1), record(2)]);
  });

  it('ships every record once and removes the spool', async () => {
    appendToSpool(dir, record(1));
    appendToSpool(dir, record(2));
    const store = recorder();
    expect(await shipSpool(dir, store)).toEqual({ shipped: 2, rejected: 0 });
    expect(store.got).toEqual([record(1), record(2)]);
    expect(existsSync(spoolPath(dir))).toBe(false);
    expect(await shipSpool(dir, store)).toEqual({ shipped: 0, rejected: 0 });
  });

  it('keeps the records the store did not take for the next run', async () => {
    for (const n of [1, 2, 3]) appendToSpool(dir, record(n));
    const store = recorder(1);
    await expect(shipSpool(dir, store)).rejects.toThrow(/store went away/);
    expect(store.got).toEqual([record(1)]);
    expect(readSpool(dir)).toEqual([record(2), record(3)]);
  });

  it('picks up a claim left by a crashed run', async () => {
    // pid 2^22+1 is above Linux's default pid_max, so no such process is alive.
    appendToSpool(dir, record(9));
    const orphan = join(dir, '.lockscope', `audit-spool.jsonl.${2 ** 22 + 1}.0.shipping`);
    writeFileSync(orphan, readFileSync(spoolPath(dir)));
    rmSync(spoolPath(dir));
    const store = recorder();
    expect(await shipSpool(dir, store)).toEqual({ shipped: 1, rejected: 0 });
    expect(existsSync(orphan)).toBe(false);
  });

  it('moves lines that are not audit records aside instead of failing', async () => {
    appendToSpool(dir, record(1));
    writeFileSync(spoolPath(dir), `${readFileSync(spoolPath(dir), 'utf8')}not json\n{"at":"x"}\n`);
    const store = recorder();
    expect(await shipSpool(dir, store)).toEqual({ shipped: 1, rejected: 2 });
    expect(readFileSync(join(dir, '.lockscope', 'audit-spool.rejected.jsonl'), 'utf8')).toBe('not json\n{"at":"x"}\n');
  });
});
