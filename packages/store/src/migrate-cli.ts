// `npm run db:migrate` (repo root) -> `npm run migrate -w @lockscope/store`,
// which runs with cwd = packages/store. Relative paths (lockscope.yaml, file:
// URLs) are resolved against INIT_CWD, the directory npm was started from.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isLockscopeError, parseConfig } from '@lockscope/core';
import { migrate } from './migrate.js';
import { DEFAULT_STORE_URL, redactUrl } from './url.js';

async function main(): Promise<number> {
  const baseDir = process.env.INIT_CWD ?? process.cwd();
  const configPath = resolve(baseDir, process.env.LOCKSCOPE_CONFIG ?? 'lockscope.yaml');
  let url = process.env.DATABASE_URL || DEFAULT_STORE_URL;
  let from = process.env.DATABASE_URL ? 'DATABASE_URL' : 'default';
  if (!process.env.DATABASE_URL && existsSync(configPath)) {
    url = parseConfig(readFileSync(configPath, 'utf8'), configPath).store.url;
    from = configPath;
  }
  console.log(`Migrating ${redactUrl(url)} (from ${from})`);
  const result = await migrate(url, { cwd: baseDir });
  for (const name of result.applied) console.log(`  applied  ${name}`);
  for (const name of result.alreadyApplied) console.log(`  present  ${name}`);
  console.log(result.applied.length === 0 ? `Store ${result.store} is up to date.` : `Applied ${result.applied.length} migration(s) to ${result.store}.`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (isLockscopeError(error)) {
      console.error(`error ${error.code}: ${error.message}`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  },
);
