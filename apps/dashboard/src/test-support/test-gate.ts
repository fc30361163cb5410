import { tmpdir } from 'node:os';
import { parseConfig } from '@lockscope/core';
import { createApiToken, type Store } from '@lockscope/store';
import { resolveAuthSettings } from '../server/auth/auth-settings';
import { createGate, type Gate } from '../server/auth/request-guard';

/**
 * A gate as the server would build it from a lockscope.yaml `dashboard:` block
 * (YAML text, so tests go through the same schema as a real file).
 */
export function gateFor(getStore: () => Promise<Store>, dashboardYaml = '{}', options: { env?: Readonly<Record<string, string | undefined>>; now?: () => number } = {}): Gate {
  const config = parseConfig(`dashboard: ${dashboardYaml}\n`, 'test.yaml');
  return createGate({ settings: resolveAuthSettings(config.dashboard.auth, options.env ?? {}, tmpdir()), getStore, ...(options.now ? { now: options.now } : {}) });
}

/** An API token with this role, valid for a day from `at`; returns the secret to send. */
export async function tokenFor(store: Store, role: 'viewer' | 'operator' | 'admin', name = `${role}-bot`, at = Date.now()): Promise<string> {
  return (await createApiToken(store, { name, role, createdBy: 'test', expiresAt: at + 86_400_000, at })).secret;
}
