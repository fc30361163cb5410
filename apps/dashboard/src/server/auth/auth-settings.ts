import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LockscopeError, type DashboardAuthConfig, type OidcConfig, type Role, type SecretRef } from '@lockscope/core';

/**
 * The dashboard's auth as the server uses it, resolved once at start-up: secrets
 * read from the environment or their files. Only this object holds them; it is
 * never serialised into a response or a log line (see `toJSON`).
 */
export interface AuthSettings {
  /** `none`: no dashboard.auth, so read-only and loopback-only. */
  mode: 'none' | 'local-dev' | 'oidc';
  /** Host names (no port, lower case) a request's Host header may name. */
  allowedHosts: ReadonlySet<string>;
  /** Signs CSRF tokens (and OIDC sessions). Random per process when none is configured. */
  sessionSecret: string;
  sessionMaxAgeSeconds: number;
  publicUrl: string | null;
  localDev: { user: string; role: Role };
  roles: DashboardAuthConfig['roles'];
  oidc: (Omit<OidcConfig, 'clientSecret'> & { clientSecret: string }) | null;
  tokenMaxDays: number;
}

export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'] as const;

const SECRET_MIN = 32;

function readSecret(ref: SecretRef, what: string, env: Readonly<Record<string, string | undefined>>, baseDir: string): string {
  let value: string | undefined;
  if ('env' in ref) {
    value = env[ref.env];
    if (value === undefined || value.trim() === '') throw new LockscopeError('BAD_CONFIG', `${what}: the environment variable ${ref.env} is not set.`);
  } else {
    const path = isAbsolute(ref.file) ? ref.file : resolve(baseDir, ref.file);
    try {
      value = readFileSync(path, 'utf8');
    } catch (error) {
      // The path is config, not secret; the contents never appear in a message.
      throw new LockscopeError('BAD_CONFIG', `${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
    }
  }
  return value.trim();
}

export function resolveAuthSettings(auth: DashboardAuthConfig | undefined, env: Readonly<Record<string, string | undefined>>, baseDir: string): AuthSettings {
  const hosts = new Set<string>(LOOPBACK_HOSTS);
  if (!auth) {
    return freeze({
      mode: 'none',
      allowedHosts: hosts,
      sessionSecret: randomBytes(32).toString('base64url'),
      sessionMaxAgeSeconds: 3600,
      publicUrl: null,
      localDev: { user: 'local-dev', role: 'viewer' },
      roles: { users: {}, groups: {}, default: 'viewer' },
      oidc: null,
      tokenMaxDays: 365,
    });
  }
  for (const h of auth.allowedHosts) hosts.add(h.toLowerCase());
  if (auth.publicUrl) hosts.add(new URL(auth.publicUrl).hostname.toLowerCase());
  let sessionSecret: string;
  if (auth.sessionSecret) {
    sessionSecret = readSecret(auth.sessionSecret, 'dashboard.auth.sessionSecret', env, baseDir);
    if (sessionSecret.length < SECRET_MIN) throw new LockscopeError('BAD_CONFIG', `dashboard.auth.sessionSecret must be at least ${SECRET_MIN} characters (try \`openssl rand -base64 48\`).`);
  } else {
    // local-dev with one process: a CSRF key that lives as long as the server is enough.
    sessionSecret = randomBytes(32).toString('base64url');
  }
  const oidc = auth.mode === 'oidc' && auth.oidc ? { ...auth.oidc, clientSecret: readSecret(auth.oidc.clientSecret, 'dashboard.auth.oidc.clientSecret', env, baseDir) } : null;
  return freeze({
    mode: auth.mode,
    allowedHosts: hosts,
    sessionSecret,
    sessionMaxAgeSeconds: auth.sessionMaxAgeSeconds,
    publicUrl: auth.publicUrl ?? null,
    localDev: auth.localDev,
    roles: auth.roles,
    oidc,
    tokenMaxDays: auth.tokenMaxDays,
  });
}

/** A settings object that prints without its secrets if someone ever logs it. */
function freeze(settings: AuthSettings): AuthSettings {
  Object.defineProperty(settings, 'toJSON', {
    enumerable: false,
    value: () => ({ mode: settings.mode, allowedHosts: [...settings.allowedHosts], publicUrl: settings.publicUrl }),
  });
  Object.defineProperty(settings, Symbol.for('nodejs.util.inspect.custom'), {
    enumerable: false,
    value: () => `AuthSettings { mode: ${settings.mode}, secrets hidden }`,
  });
  return settings;
}
