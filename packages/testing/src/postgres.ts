import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Server used for test databases; override with LOCKSCOPE_TEST_PG_URL. */
export function testPostgresAdminUrl(): string {
  return process.env.LOCKSCOPE_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

/**
 * Creates a fresh, uniquely named PostgreSQL database for one test run and
 * returns its URL. Fails with a message that says how to get PostgreSQL.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = testPostgresAdminUrl();
  const name = `lockscope_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is required by this test but ${adminUrl} is not reachable (${(error as Error).message}). ` +
        'Start it (Debian: pg_ctlcluster 15 main start) or set LOCKSCOPE_TEST_PG_URL.',
    );
  }
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
