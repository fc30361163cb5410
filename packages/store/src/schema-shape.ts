// Reduces prisma/schema.prisma and the checked-in migration SQL to one
// comparable shape (tables, columns with type class and nullability, indexes),
// so a test can fail when the schema and either migration drift apart.
import type { StoreProvider } from './url.js';

export type TypeClass = 'text' | 'int' | 'bigint' | 'float' | 'bool' | 'bytes';

export interface ColumnShape {
  type: TypeClass;
  nullable: boolean;
}

export interface IndexShape {
  table: string;
  columns: string[];
  unique: boolean;
}

export interface SchemaShape {
  tables: Record<string, Record<string, ColumnShape>>;
  /** Keyed by index name (Prisma's naming: <Model>_<cols>_idx / _key). */
  indexes: Record<string, IndexShape>;
  primaryKeys: Record<string, string[]>;
}

const PRISMA_TYPES: Record<string, TypeClass> = { String: 'text', Int: 'int', BigInt: 'bigint', Float: 'float', Boolean: 'bool', Bytes: 'bytes' };

export function shapeFromPrisma(schema: string): SchemaShape {
  const shape: SchemaShape = { tables: {}, indexes: {}, primaryKeys: {} };
  const withoutComments = schema.replace(/\/\/.*$/gm, '');
  for (const m of withoutComments.matchAll(/model\s+(\w+)\s*\{([^}]*)\}/g)) {
    const model = m[1]!;
    const columns: Record<string, ColumnShape> = {};
    shape.tables[model] = columns;
    for (const rawLine of m[2]!.split('\n')) {
      const line = rawLine.trim();
      if (!line) continue;
      const block = /^@@(id|unique|index)\(\[([^\]]*)\]/.exec(line);
      if (block) {
        const cols = block[2]!.split(',').map((c) => c.trim());
        if (block[1] === 'id') shape.primaryKeys[model] = cols;
        else shape.indexes[`${model}_${cols.join('_')}_${block[1] === 'unique' ? 'key' : 'idx'}`] = { table: model, columns: cols, unique: block[1] === 'unique' };
        continue;
      }
      const field = /^(\w+)\s+(\w+)(\??)(.*)$/.exec(line);
      if (!field) continue;
      const [, name, type, optional, attrs] = field as unknown as [string, string, string, string, string];
      const cls = PRISMA_TYPES[type];
      if (!cls) throw new Error(`schema.prisma: ${model}.${name} has unsupported type ${type}`);
      columns[name] = { type: cls, nullable: optional === '?' };
      if (/@id\b/.test(attrs)) shape.primaryKeys[model] = [name];
      if (/@unique\b/.test(attrs)) shape.indexes[`${model}_${name}_key`] = { table: model, columns: [name], unique: true };
    }
  }
  return shape;
}

function sqlType(provider: StoreProvider, raw: string, where: string): TypeClass {
  const t = raw.toUpperCase();
  const map: Record<string, TypeClass> =
    provider === 'sqlite'
      ? { TEXT: 'text', INTEGER: 'int', BIGINT: 'bigint', REAL: 'float', BOOLEAN: 'bool', BLOB: 'bytes' }
      : { TEXT: 'text', INTEGER: 'int', BIGINT: 'bigint', BIGSERIAL: 'bigint', 'DOUBLE PRECISION': 'float', BOOLEAN: 'bool', BYTEA: 'bytes' };
  const cls = map[t];
  if (!cls) throw new Error(`${where}: unexpected ${provider} column type ${raw}`);
  return cls;
}

const unquote = (s: string) => s.trim().replace(/^"|"$/g, '');
const columnList = (s: string) => s.split(',').map(unquote);

/**
 * Applies the migration scripts (in order) to an empty shape. Understands what
 * Prisma emits for these schemas: CREATE TABLE, CREATE [UNIQUE] INDEX,
 * ALTER TABLE ADD/DROP COLUMN, DROP INDEX, DROP TABLE. Anything else fails.
 */
export function shapeFromMigrations(provider: StoreProvider, scripts: string[]): SchemaShape {
  const shape: SchemaShape = { tables: {}, indexes: {}, primaryKeys: {} };
  for (const script of scripts) {
    const statements = script
      .replace(/--.*$/gm, '')
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const stmt of statements) {
      let m: RegExpExecArray | null;
      if ((m = /^CREATE TABLE "(\w+)" \(([\s\S]*)\)$/i.exec(stmt))) {
        const table = m[1]!;
        const columns: Record<string, ColumnShape> = {};
        shape.tables[table] = columns;
        for (const part of m[2]!.split(/,\s*\n/).map((p) => p.trim()).filter(Boolean)) {
          const pk = /^(?:CONSTRAINT "\w+" )?PRIMARY KEY \(([^)]*)\)$/i.exec(part);
          if (pk) {
            shape.primaryKeys[table] = columnList(pk[1]!);
            continue;
          }
          const col = /^"(\w+)" ([A-Z]+(?: PRECISION)?)(.*)$/i.exec(part);
          if (!col) throw new Error(`${provider} migration: cannot read column definition "${part}" in ${table}`);
          const rest = col[3]!;
          columns[col[1]!] = { type: sqlType(provider, col[2]!, `${table}.${col[1]}`), nullable: !/NOT NULL/i.test(rest) };
          if (/PRIMARY KEY/i.test(rest)) shape.primaryKeys[table] = [col[1]!];
        }
        // SQLite spells BigInt autoincrement ids as INTEGER PRIMARY KEY (the rowid alias).
        if (provider === 'sqlite') {
          for (const [name, c] of Object.entries(columns)) {
            if (c.type === 'int' && shape.primaryKeys[table]?.length === 1 && shape.primaryKeys[table]![0] === name && /AUTOINCREMENT/i.test(m[2]!)) c.type = 'bigint';
          }
        }
      } else if ((m = /^CREATE (UNIQUE )?INDEX "(\w+)" ON "(\w+)"\s*\(([^)]*)\)$/i.exec(stmt))) {
        shape.indexes[m[2]!] = { table: m[3]!, columns: columnList(m[4]!), unique: Boolean(m[1]) };
      } else if ((m = /^ALTER TABLE "(\w+)" ADD COLUMN "(\w+)" ([A-Z]+(?: PRECISION)?)(.*)$/i.exec(stmt))) {
        shape.tables[m[1]!]![m[2]!] = { type: sqlType(provider, m[3]!, `${m[1]}.${m[2]}`), nullable: !/NOT NULL/i.test(m[4]!) };
      } else if ((m = /^ALTER TABLE "(\w+)" DROP COLUMN "(\w+)"$/i.exec(stmt))) {
        delete shape.tables[m[1]!]![m[2]!];
      } else if ((m = /^DROP INDEX "(\w+)"$/i.exec(stmt))) {
        delete shape.indexes[m[1]!];
      } else if ((m = /^DROP TABLE "(\w+)"$/i.exec(stmt))) {
        delete shape.tables[m[1]!];
        delete shape.primaryKeys[m[1]!];
      } else {
        throw new Error(`${provider} migration: statement not understood by the drift check, extend schema-shape.ts: ${stmt.slice(0, 120)}`);
      }
    }
  }
  return shape;
}
