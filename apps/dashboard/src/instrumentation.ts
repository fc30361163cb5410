// Runs once when the server starts: a bad lockscope.yaml fails the start with
// its message instead of the first request.
export async function register(): Promise<void> {
  // The import sits inside the condition (not after an early return) so webpack drops it
  // from the edge build even in `next dev`, which does not minify: the store's Node-only
  // modules (better-sqlite3, fs) cannot be bundled for edge.
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { findRepoRoot, runtime } = await import('./server/runtime');
    const { parseStoreUrl, redactUrl, storeLeftBehind } = await import('@lockscope/store');
    const { config, baseDir } = runtime();
    // The resolved file for SQLite, the URL without its password for PostgreSQL; a URL
    // that does not parse is reported by the first request that opens the store.
    let store: string;
    try {
      store = parseStoreUrl(config.store.url, baseDir).display;
    } catch {
      store = redactUrl(config.store.url);
    }
    console.log(`lockscope dashboard: store ${store}`);
    // Earlier dashboards resolved a relative file: URL against the repository root.
    const leftBehind = storeLeftBehind(config.store.url, baseDir, { dir: findRepoRoot(process.cwd()), name: 'the repository root' });
    if (leftBehind) console.warn(`lockscope dashboard: warning: ${leftBehind}`);
  }
}
