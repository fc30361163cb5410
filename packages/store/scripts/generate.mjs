// Generates one Prisma client per provider from the single top-level schema.
// Offline-safe: `prisma generate` does not use the schema engine, but the CLI
// insists on finding one, so PRISMA_SCHEMA_ENGINE_BINARY points at an existing
// file (see DESIGN.md, "Prisma note").
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const storeDir = resolve(here, '..');
const schemaPath = resolve(storeDir, '../../prisma/schema.prisma');
const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js');
const source = readFileSync(schemaPath, 'utf8');

for (const provider of ['sqlite', 'postgresql']) {
  const outDir = join(storeDir, 'src/generated', provider);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const schema = source
    .replace(/provider\s*=\s*"postgresql"/, `provider = "${provider}"`)
    .replace(/output\s*=\s*"[^"]*"/, `output       = "./client"`);
  const tmpSchema = join(outDir, 'schema.prisma');
  writeFileSync(tmpSchema, schema);
  execFileSync(process.execPath, [prismaCli, 'generate', '--schema', tmpSchema], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
}
