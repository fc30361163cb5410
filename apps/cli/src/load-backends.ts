type Backends = typeof import('./backends.js');

let loading: Promise<Backends> | null = null;

/**
 * esbuild hoists the static imports of every module it inlines to the top of
 * the bundle, so even a literal `import('@lockscope/sources')` would load
 * gRPC, ioredis and Prisma at start-up. The backends are a separate bundle
 * entry instead, imported by a computed URL esbuild leaves alone.
 * Note: that bundle has its own copy of core, so errors thrown there are not
 * `instanceof` this bundle's LockscopeError: use isLockscopeErrorLike.
 */
export function loadBackends(): Promise<Backends> {
  const url = new URL('./backends.js', import.meta.url).href;
  loading ??= import(url) as Promise<Backends>;
  return loading;
}
