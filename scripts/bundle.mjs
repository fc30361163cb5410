// Bundles an app's entry points with esbuild: internal @lockscope/* packages
// (TypeScript source) are inlined, npm dependencies stay external so native
// modules (better-sqlite3) and Prisma's runtime load from node_modules.
// Usage (from an app folder): node ../../scripts/bundle.mjs src/main.ts [more entries]
//   --outdir=<dir> writes elsewhere than dist/; an entry `name=path.ts` is written as <outdir>/name.js
//   (so entries from several folders land side by side).
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

let outdir = 'dist';
const entries = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--outdir=')) outdir = arg.slice('--outdir='.length);
  else entries.push(arg);
}
if (entries.length === 0) {
  console.error('usage: bundle.mjs <entry.ts> [...]');
  process.exit(2);
}

const root = resolve(import.meta.dirname, '..');
// Every workspace's npm dependencies stay external, whichever app is bundled.
const workspaceDirs = ['apps', 'packages'].flatMap((group) =>
  readdirSync(resolve(root, group)).map((name) => `${group}/${name}`).filter((dir) => existsSync(resolve(root, dir, 'package.json'))),
);
const external = new Set();
for (const dir of ['.', ...workspaceDirs]) {
  const pkg = JSON.parse(readFileSync(resolve(root, dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
    if (!dep.startsWith('@lockscope/')) external.add(dep);
  }
}

await build({
  entryPoints: entries.some((e) => e.includes('='))
    ? entries.map((e) => (e.includes('=') ? { out: e.slice(0, e.indexOf('=')), in: e.slice(e.indexOf('=') + 1) } : { out: e.replace(/^.*\//, '').replace(/\.ts$/, ''), in: e }))
    : entries,
  outdir,
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
