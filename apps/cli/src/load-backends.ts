type SourcesBundle = typeof import('./backend-sources.js');
type StoreBundle = typeof import('./backend-store.js');

let sources: Promise<SourcesBundle> | null = null;
let store: Promise<StoreBundle> | null = null;

// esbuild hoists the static imports of every module it inlines to the top of
// the bundle, so even a literal `import('@lockscope/sources')` would load
// gRPC, ioredis and Prisma at start-up. The backends are separate bundle
// entries instead, imported by a computed URL esbuild leaves alone; `ls`
// loads the source clients only, never Prisma.
// Those bundles carry their own copy of core, so errors thrown there are not
// `instanceof` this bundle's LockscopeError: use isLockscopeErrorLike.

export function loadSourcesBundle(): Promise<SourcesBundle> {
  sources ??= import(new URL('./backend-sources.js', import.meta.url).href) as Promise<SourcesBundle>;
  return sources;
}

export function loadStoreBundle(): Promise<StoreBundle> {
  store ??= import(new URL('./backend-store.js', import.meta.url).href) as Promise<StoreBundle>;
  return store;
}
