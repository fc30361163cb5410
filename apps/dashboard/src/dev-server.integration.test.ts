import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@lockscope/store';
import { describe, expect, it } from 'vitest';
import { startDevDashboard } from './test-support/dashboard-server.js';

// `npm run dev` compiles instrumentation.ts for the edge runtime too and does not minify:
// a Node-only import reachable there failed every page with "Can't resolve 'fs'".
describe('next dev (npm run dev -w @lockscope/dashboard)', () => {
  it('serves the overview and the API', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-dev-'));
    const url = `file:${join(dir, 'store.db')}`;
    const store = await openStore({ url });
    await store.migrate();
    await store.close();
    const server = await startDevDashboard({ DATABASE_URL: url });
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status, server.child.output()).toBe(200);
      expect(await page.text()).toContain('Lockscope');
      const api = await fetch(`${server.url}/api/v1/overview`);
      expect(api.status).toBe(200);
      expect(await api.json()).toMatchObject({ locks: 0 });
      expect(server.child.output()).not.toMatch(/Module not found|Can't resolve/);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
