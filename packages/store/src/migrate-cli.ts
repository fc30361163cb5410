// `npm run db:migrate` (repo root) -> `npm run migrate -w @lockscope/store`,
// which runs with cwd = packages/store. lockscope.yaml and LOCKSCOPE_CONFIG are
// looked up from INIT_CWD, the directory npm was started from; a relative file:
// URL resolves beside the config file (else in INIT_CWD), as for every app.
import { isLockscopeError, loadConfig } from '@lockscope/core';
import { migrate } from './migrate.js';
import { redactUrl, storeLeftBehind } from './url.js';

async function main(): Promise<number> {
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const env = { LOCKSCOPE_CONFIG: process.env.LOCKSCOPE_CONFIG || undefined, DATABASE_URL: process.env.DATABASE_URL || undefined };
  const { config, path, baseDir } = loadConfig({ env, cwd });
  const url = config.store.url;
  const from = env.DATABASE_URL ? 'DATABASE_URL' : (path ?? 'default');
  console.log(`Migrating ${redactUrl(url)} (from ${from})`);
  const leftBehind = storeLeftBehind(url, baseDir, { dir: cwd, name: 'the directory npm was started from' });
  if (leftBehind) console.warn(`warning: ${leftBehind}`);
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
