// Runs once when the server starts: a bad lockscope.yaml fails the start with
// its message instead of the first request.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { runtime } = await import('./server/runtime');
  const { config, root } = runtime();
  const store = config.store.url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  console.log(`lockscope dashboard: store ${store} (relative to ${root})`);
}
