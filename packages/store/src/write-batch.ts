import { Sql, type RawValue } from '@prisma/client/runtime/client';
import { LockscopeError } from '@lockscope/core';
import type { StoreClient } from './store-client.js';
import { storeUnavailable } from './store-error.js';
import { float, int, ms, optBytes, optFloat, optInt, optMs, optText, text } from './sql-values.js';
import type { ParsedStoreUrl } from './url.js';
import type { EventRow, HazardRow, HoldRow, LockRow, RollupRow, SourceRow, WriteBatch, WriteBatchResult } from './types.js';

/**
 * Bind parameters per statement. SQLite allows 32766 and PostgreSQL 65535;
 * the bench (src/bench-write.ts) showed no clear gain from 2,000 to 30,000, and
 * smaller statements keep the per-statement memory modest.
 */
export const MAX_PARAMS_PER_STATEMENT = 8000;

type Conflict =
  /** `keep`: columns a conflicting row leaves as they are (fixed for the key; not rewriting them spares their indexes). */
  | { kind: 'update'; target: string[]; keep?: string[] }
  | { kind: 'nothing'; target: string[] }
  | { kind: 'append' };

export interface TableSpec<R> {
  table: string;
  columns: readonly string[];
  values(row: R): RawValue[];
  conflict: Conflict;
  /** Key for de-duplicating upserts inside one statement (PostgreSQL refuses to update a row twice). */
  key?(row: R): string;
}

const q = (name: string) => `"${name}"`;

/** The fixed parts of a multi-row INSERT for a table: `${head}(?, ...), (?, ...)${tail}`. */
export function insertParts(spec: TableSpec<unknown>): { head: string; tail: string } {
  const head = `INSERT INTO ${q(spec.table)} (${spec.columns.map(q).join(', ')}) VALUES `;
  const conflict = spec.conflict;
  const tail =
    conflict.kind === 'append'
      ? ''
      : conflict.kind === 'nothing'
        ? ` ON CONFLICT (${conflict.target.map(q).join(', ')}) DO NOTHING`
        : ` ON CONFLICT (${conflict.target.map(q).join(', ')}) DO UPDATE SET ${spec.columns
            .filter((c) => !conflict.target.includes(c) && !conflict.keep?.includes(c))
            .map((c) => `${q(c)} = excluded.${q(c)}`)
            .join(', ')}`;
  return { head, tail };
}

/** Rows per statement for a table: as many as fit under MAX_PARAMS_PER_STATEMENT. */
export function rowsPerStatement(spec: TableSpec<unknown>): number {
  return Math.max(1, Math.floor(MAX_PARAMS_PER_STATEMENT / spec.columns.length));
}

/** Every row's values, checked (BAD_REQUEST on a bad value) before anything is written. */
export function rowValues<R>(spec: TableSpec<R>, rows: R[]): RawValue[][] {
  const width = spec.columns.length;
  return rows.map((row) => {
    const values = spec.values(row);
    if (values.length !== width) throw new LockscopeError('INTERNAL', `${spec.table}: ${values.length} values for ${width} columns`);
    return values;
  });
}

export function statements<R>(spec: TableSpec<R>, rows: R[]): Sql[] {
  const { head, tail } = insertParts(spec as TableSpec<unknown>);
  const width = spec.columns.length;
  const perStatement = rowsPerStatement(spec as TableSpec<unknown>);
  const all = rowValues(spec, rows);
  const out: Sql[] = [];
  for (let i = 0; i < all.length; i += perStatement) {
    const end = Math.min(all.length, i + perStatement);
    // Built as Sql(strings, values) directly: nesting sqltag/join per row cost
    // about a quarter of the whole write time in the bench.
    const strings: string[] = [];
    const values: RawValue[] = [];
    let pending = `${head}(`;
    for (let r = i; r < end; r++) {
      const rowValues = all[r]!;
      for (let c = 0; c < width; c++) {
        strings.push(pending);
        values.push(rowValues[c]);
        pending = c < width - 1 ? ', ' : r < end - 1 ? '), (' : `)${tail}`;
      }
    }
    strings.push(pending);
    out.push(new Sql(strings, values));
  }
  return out;
}

/** Last write wins for rows with the same key inside one batch. */
export function lastByKey<R>(rows: R[], key: (row: R) => string): R[] {
  if (rows.length < 2) return rows;
  const map = new Map<string, R>();
  for (const row of rows) {
    const k = key(row);
    map.delete(k);
    map.set(k, row);
  }
  return map.size === rows.length ? rows : [...map.values()];
}

export const sourceSpec: TableSpec<SourceRow> = {
  table: 'Source',
  columns: ['name', 'kind', 'connected', 'lastError', 'lastEventAt', 'lastSeenAt', 'ingestLagMs', 'resumeRevision', 'lockCount', 'updatedAt'],
  values: (r) => [
    text(r.name),
    text(r.kind),
    r.connected ?? false,
    optText(r.lastError),
    optMs(r.lastEventAt, 'Source.lastEventAt'),
    optMs(r.lastSeenAt, 'Source.lastSeenAt'),
    optInt(r.ingestLagMs, 'Source.ingestLagMs'),
    optText(r.resumeRevision),
    int(r.lockCount ?? 0, 'Source.lockCount'),
    ms(r.updatedAt, 'Source.updatedAt'),
  ],
  conflict: { kind: 'update', target: ['name'] },
  key: (r) => r.name,
};

export const lockSpec: TableSpec<LockRow> = {
  table: 'Lock',
  columns: [
    'id', 'source', 'name', 'rawKey', 'dialect', 'held', 'holder', 'token', 'acquiredAt', 'lastRenewedAt', 'ttlMs', 'expiresAt',
    'nearExpiryAt', 'waiters', 'waiterQueue', 'holdId', 'trackerState', 'firstSeenAt', 'lastChangeAt', 'acquisitions', 'expirations',
  ],
  values: (r) => [
    text(r.id),
    text(r.source),
    text(r.name),
    text(r.rawKey),
    text(r.dialect),
    r.held ?? false,
    optText(r.holder),
    optText(r.token),
    optMs(r.acquiredAt, 'Lock.acquiredAt'),
    optMs(r.lastRenewedAt, 'Lock.lastRenewedAt'),
    optInt(r.ttlMs, 'Lock.ttlMs'),
    optMs(r.expiresAt, 'Lock.expiresAt'),
    optMs(r.nearExpiryAt, 'Lock.nearExpiryAt'),
    int(r.waiters ?? 0, 'Lock.waiters'),
    optText(r.waiterQueue),
    optText(r.holdId),
    optText(r.trackerState),
    ms(r.firstSeenAt, 'Lock.firstSeenAt'),
    ms(r.lastChangeAt, 'Lock.lastChangeAt'),
    int(r.acquisitions ?? 0, 'Lock.acquisitions'),
    int(r.expirations ?? 0, 'Lock.expirations'),
  ],
  // The live row is replaced, except what the id fixes: the id is derived from
  // (source, rawKey) (core lockId) and the name from rawKey, and the first
  // sighting stays the first. Leaving them alone spares two index rewrites per upsert.
  conflict: { kind: 'update', target: ['id'], keep: ['source', 'rawKey', 'name', 'firstSeenAt'] },
  key: (r) => r.id,
};

export const holdSpec: TableSpec<HoldRow> = {
  table: 'Hold',
  columns: ['lockId', 'holdKey', 'holder', 'token', 'acquiredAt', 'endedAt', 'heldMs', 'ttlMs', 'waitMs', 'renewals', 'maxLeaseUsed', 'nearExpiry', 'endReason', 'approximate'],
  values: (r) => [
    text(r.lockId),
    text(r.holdKey),
    optText(r.holder),
    optText(r.token),
    ms(r.acquiredAt, 'Hold.acquiredAt'),
    ms(r.endedAt, 'Hold.endedAt'),
    int(Math.round(r.heldMs), 'Hold.heldMs'),
    optInt(r.ttlMs, 'Hold.ttlMs'),
    optInt(r.waitMs === null || r.waitMs === undefined ? r.waitMs : Math.round(r.waitMs), 'Hold.waitMs'),
    int(r.renewals ?? 0, 'Hold.renewals'),
    optFloat(r.maxLeaseUsed, 'Hold.maxLeaseUsed'),
    r.nearExpiry ?? false,
    text(r.endReason),
    r.approximate ?? false,
  ],
  conflict: { kind: 'nothing', target: ['lockId', 'holdKey'] },
};

export const eventSpec: TableSpec<EventRow> = {
  table: 'Event',
  columns: ['lockId', 'source', 'at', 'type', 'holder', 'token', 'ttlMs', 'valueMs', 'revision', 'detail'],
  values: (r) => [
    text(r.lockId),
    text(r.source),
    ms(r.at, 'Event.at'),
    text(r.type),
    optText(r.holder),
    optText(r.token),
    optInt(r.ttlMs, 'Event.ttlMs'),
    optInt(r.valueMs === null || r.valueMs === undefined ? r.valueMs : Math.round(r.valueMs), 'Event.valueMs'),
    optText(r.revision),
    optText(r.detail),
  ],
  conflict: { kind: 'append' },
};

export const rollupSpec: TableSpec<RollupRow> = {
  table: 'Rollup',
  columns: [
    'lockId', 'bucket', 'source', 'acquisitions', 'waitedAcquisitions', 'releases', 'expirations', 'nearExpiries',
    'waitersMax', 'waitersSum', 'waitersSamples', 'acqLatencySketch', 'holdTimeSketch',
  ],
  values: (r) => [
    text(r.lockId),
    ms(r.bucket, 'Rollup.bucket'),
    text(r.source),
    int(r.acquisitions ?? 0, 'Rollup.acquisitions'),
    int(r.waitedAcquisitions ?? 0, 'Rollup.waitedAcquisitions'),
    int(r.releases ?? 0, 'Rollup.releases'),
    int(r.expirations ?? 0, 'Rollup.expirations'),
    int(r.nearExpiries ?? 0, 'Rollup.nearExpiries'),
    int(r.waitersMax ?? 0, 'Rollup.waitersMax'),
    float(r.waitersSum ?? 0, 'Rollup.waitersSum'),
    int(r.waitersSamples ?? 0, 'Rollup.waitersSamples'),
    optBytes(r.acqLatencySketch),
    optBytes(r.holdTimeSketch),
  ],
  conflict: { kind: 'update', target: ['lockId', 'bucket'] },
  key: (r) => `${r.lockId}\u0000${r.bucket}`,
};

/** Hour rollups: the minute rollup's columns and rules in their own table. */
export const rollupHourSpec: TableSpec<RollupRow> = { ...rollupSpec, table: 'RollupHour' };

/** Hazards: replaced whole when they change (severity rises, they end). */
export const hazardSpec: TableSpec<HazardRow> = {
  table: 'Hazard',
  columns: ['id', 'kind', 'severity', 'source', 'lockId', 'lockName', 'since', 'until', 'holders', 'tokens', 'detail', 'evidence'],
  values: (r) => [
    text(r.id),
    text(r.kind),
    text(r.severity),
    text(r.source),
    optText(r.lockId),
    optText(r.lockName),
    ms(r.since, 'Hazard.since'),
    optMs(r.until, 'Hazard.until'),
    text(JSON.stringify(r.holders)),
    text(JSON.stringify(r.tokens)),
    text(r.detail),
    text(JSON.stringify(r.evidence)),
  ],
  conflict: { kind: 'update', target: ['id'] },
  key: (r) => r.id,
};

/**
 * The rows to write for a table: upserts keep the last row per key and go in key
 * order, so two writers touching overlapping rows lock them in the same order
 * (PostgreSQL would otherwise risk a deadlock).
 */
export function orderedRows<R>(spec: TableSpec<R>, rows: R[] | undefined): R[] {
  if (!rows || rows.length === 0) return [];
  const key = spec.key;
  return key ? [...lastByKey(rows, key)].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) : rows;
}

function build<R>(spec: TableSpec<R>, rows: R[] | undefined): { sql: Sql[]; count: number } {
  const unique = orderedRows(spec, rows);
  return { sql: unique.length ? statements(spec, unique) : [], count: unique.length };
}

/**
 * Writes one collector flush in ONE transaction: sources, locks and rollups
 * are upserted (row replaced), holds inserted unless (lockId, holdKey) exists,
 * events appended. Values are validated (and statements built) before the
 * transaction opens, so a bad row fails fast with BAD_REQUEST and writes nothing.
 */
export async function writeBatch(prisma: StoreClient, parsed: ParsedStoreUrl, batch: WriteBatch): Promise<WriteBatchResult> {
  const sources = build(sourceSpec, batch.sources);
  const locks = build(lockSpec, batch.locks);
  const holds = build(holdSpec, batch.holds);
  const events = build(eventSpec, batch.events);
  const rollups = build(rollupSpec, batch.rollups);
  const rollupHours = build(rollupHourSpec, batch.rollupHours);
  const hazards = build(hazardSpec, batch.hazards);
  if (sources.count + locks.count + holds.count + events.count + rollups.count + rollupHours.count + hazards.count === 0) {
    return { sources: 0, locks: 0, holdsInserted: 0, events: 0, rollups: 0, rollupHours: 0, hazards: 0 };
  }
  try {
    return await prisma.$transaction(
      async (tx) => {
        const run = async (list: Sql[]) => {
          let n = 0;
          for (const statement of list) n += await tx.$executeRaw(statement);
          return n;
        };
        await run(sources.sql);
        await run(locks.sql);
        const holdsInserted = await run(holds.sql);
        await run(events.sql);
        await run(rollups.sql);
        await run(rollupHours.sql);
        await run(hazards.sql);
        return { sources: sources.count, locks: locks.count, holdsInserted, events: events.count, rollups: rollups.count, rollupHours: rollupHours.count, hazards: hazards.count };
      },
      // Large catch-up batches on a slow disk can take seconds; the default 5 s would abort them.
      { maxWait: 30_000, timeout: 120_000 },
    );
  } catch (error) {
    if (error instanceof LockscopeError) throw error;
    throw storeUnavailable(parsed, error, 'write to');
  }
}
