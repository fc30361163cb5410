// Bundles an app's entry points with esbuild: internal @lockscope/* packages
// (TypeScript source) are inlined, npm dependencies stay external so native
// modules (better-sqlite3) and Prisma's runtime load from node_modules.
// Usage (from an app folder): node ../../scripts/bundle.mjs src/main.ts [more entries]
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const entries = process.argv.slice(2);
if (entries.length === 0) {
  console.error('usage: bundle.mjs <entry.ts> [...]');
  process.exit(2);
}

const rootPkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../package.json'), 'utf8'));
const workspaceDirs = ['packages/core', 'packages/store', 'packages/sources', 'packages/testing', 'apps/cli', 'apps/collector'];
const external = new Set();
for (const dir of ['.', ...workspaceDirs]) {
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
    if (!dep.startsWith('@lockscope/')) external.add(dep);
  }
}
void rootPkg;

await build({
  entryPoints: entries,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  external: [...external, '@prisma/client/*', '*.node'],
  // ESM output still meets CommonJS dependencies that call require().
  banner: { js: "import { createRequire as __lsCreateRequire } from 'node:module'; const require = __lsCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
