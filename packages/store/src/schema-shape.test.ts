import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findMigrationsDir, readMigrations } from './migrate.js';
import { shapeFromMigrations, shapeFromPrisma } from './schema-shape.js';

const migrationsDir = findMigrationsDir();
const schemaText = readFileSync(join(migrationsDir, '..', 'schema.prisma'), 'utf8');

describe('prisma/schema.prisma and the checked-in migrations agree', () => {
  const fromSchema = shapeFromPrisma(schemaText);

  it('reads every model of the schema', () => {
    expect(Object.keys(fromSchema.tables).sort()).toEqual(['Alert', 'AuditRecord', 'Delivery', 'Event', 'Hazard', 'Hold', 'Lock', 'Rollup', 'RollupHour', 'Source']);
    expect(fromSchema.tables.Lock!.trackerState).toEqual({ type: 'text', nullable: true });
    expect(fromSchema.primaryKeys.Rollup).toEqual(['lockId', 'bucket']);
  });

  describe.each(['sqlite', 'postgresql'] as const)('%s migrations', (provider) => {
    const migrations = readMigrations(provider, migrationsDir);

    it('are named and ordered like prisma migrate dev names them', () => {
      expect(migrations.length).toBeGreaterThan(0);
      for (const m of migrations) expect(m.name).toMatch(/^\d{14}_\w+$/);
      expect(migrations.map((m) => m.name)).toEqual([...migrations.map((m) => m.name)].sort());
    });

    it('define the same tables, columns, keys and indexes as the schema', () => {
      const fromSql = shapeFromMigrations(provider, migrations.map((m) => m.sql));
      expect(fromSql.tables).toEqual(fromSchema.tables);
      expect(fromSql.primaryKeys).toEqual(fromSchema.primaryKeys);
      expect(fromSql.indexes).toEqual(fromSchema.indexes);
    });
  });

  it('the two providers have the same migration names', () => {
    expect(readMigrations('sqlite', migrationsDir).map((m) => m.name)).toEqual(readMigrations('postgresql', migrationsDir).map((m) => m.name));
  });

  it('a drifted migration is detected (column missing, type changed, nullability changed)', () => {
    const sql = readMigrations('postgresql', migrationsDir).map((m) => m.sql);
    const dropped = sql.map((s) => s.replace('    "trackerState" TEXT,\n', ''));
    expect(shapeFromMigrations('postgresql', dropped).tables).not.toEqual(fromSchema.tables);
    const retyped = sql.map((s) => s.replace('"heldMs" INTEGER NOT NULL', '"heldMs" BIGINT NOT NULL'));
    expect(shapeFromMigrations('postgresql', retyped).tables).not.toEqual(fromSchema.tables);
    const nullable = sql.map((s) => s.replace('"endReason" TEXT NOT NULL', '"endReason" TEXT'));
    expect(shapeFromMigrations('postgresql', nullable).tables).not.toEqual(fromSchema.tables);
    const schemaWithExtra = schemaText.replace('  expirations     Int     @default(0)\n', '  expirations     Int     @default(0)\n  extra String?\n');
    expect(shapeFromPrisma(schemaWithExtra).tables).not.toEqual(shapeFromMigrations('postgresql', sql).tables);
  });

  it('an unknown statement fails loudly instead of being ignored', () => {
    expect(() => shapeFromMigrations('sqlite', ['CREATE VIEW "v" AS SELECT 1;'])).toThrow(/not understood/);
  });
});
