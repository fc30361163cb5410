import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRuntime } from './runtime';

describe('the dashboard runtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-runtime-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves a relative store URL beside LOCKSCOPE_CONFIG, as the collector and lockctl do', async () => {
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'lockscope.yaml'), 'store: { url: "file:./data/lockscope.db" }\n');
    const runtime = createRuntime({ NODE_ENV: 'test', LOCKSCOPE_CONFIG: join(dir, 'etc', 'lockscope.yaml') }, dir);
    try {
      expect(runtime.baseDir).toBe(join(dir, 'etc'));
      const store = await runtime.getStore();
      expect(store.url).toBe(`file:${join(dir, 'etc', 'data', 'lockscope.db')}`);
    } finally {
      await runtime.close();
    }
  });

  it('falls back on the repository root with no config file', () => {
    // next start runs in apps/dashboard; the root is the nearest folder with workspaces.
    mkdirSync(join(dir, 'repo', 'apps', 'dashboard'), { recursive: true });
    writeFileSync(join(dir, 'repo', 'package.json'), '{ "workspaces": ["apps/*"] }\n');
    writeFileSync(join(dir, 'repo', 'apps', 'dashboard', 'package.json'), '{ "name": "dashboard" }\n');
    const runtime = createRuntime({ NODE_ENV: 'test' }, join(dir, 'repo', 'apps', 'dashboard'));
    expect(runtime.baseDir).toBe(join(dir, 'repo'));
  });
});
