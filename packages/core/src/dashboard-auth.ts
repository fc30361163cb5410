import { z } from 'zod';

/** Dashboard roles, weakest first: each one can do everything the ones before it can. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** True when `role` may do what `needed` may. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

const role = z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` });

/**
 * Where a secret comes from. A literal value in lockscope.yaml is refused: the file
 * is committed, shared in tickets and printed in support threads.
 */
export const secretRefSchema = z.union(
  [
    z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
    z.strictObject({ file: z.string().min(1) }),
  ],
  { error: 'give the secret as { env: VARIABLE_NAME } or { file: /path/to/file }, never the value itself' },
);
export type SecretRef = z.output<typeof secretRefSchema>;

/** A host name as it appears in a Host header, without the port (an IPv6 address in brackets). */
const hostName = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/, 'a host name without scheme or port, like lockscope.example.com');

const oidcSchema = z.strictObject({
  /** The provider's issuer URL (its /.well-known/openid-configuration is read from there). */
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1),
  clientSecret: secretRefSchema,
  /** Shown on the sign-in button. */
  name: z.string().min(1).max(60).default('OpenID Connect'),
  /** The claim that names the user in the audit log. */
  userClaim: z.string().min(1).default('preferred_username'),
  /** The claim holding the user's groups (a list of strings, or one string). */
  groupsClaim: z.string().min(1).default('groups'),
  scopes: z.array(z.string().min(1)).default(['openid', 'profile', 'email']),
});

const rolesSchema = z.strictObject({
  /** Role per user name (the OIDC user claim, or the local-dev user). Wins over groups. */
  users: z.record(z.string().min(1), role).default({}),
  /** Role per OIDC group; a user in several groups gets the strongest. */
  groups: z.record(z.string().min(1), role).default({}),
  /** Role of a signed-in user matched by neither; `none` refuses the sign-in. */
  default: z.enum([...ROLES, 'none']).default('viewer'),
});

export const dashboardAuthSchema = z
  .strictObject({
    /**
     * oidc: people sign in with OpenID Connect. local-dev: everyone who reaches the
     * (loopback-only) dashboard is one local user; for a laptop and the demo, never a
     * shared host. API tokens for automation work in both.
     */
    mode: z.enum(['oidc', 'local-dev']),
    /** The URL people open (needed for OIDC redirects); its host is allowed in Host headers. */
    publicUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** More host names this dashboard answers to (beyond loopback and publicUrl's host). */
    allowedHosts: z.array(hostName).default([]),
    /** Signs session cookies and CSRF tokens (at least 32 characters); required for oidc. */
    sessionSecret: secretRefSchema.optional(),
    /** How long a browser session lasts. */
    sessionMaxAgeSeconds: z.number().int().min(60).max(30 * 24 * 3600).default(12 * 3600),
    oidc: oidcSchema.optional(),
    roles: rolesSchema.default({ users: {}, groups: {}, default: 'viewer' }),
    localDev: z.strictObject({ user: z.string().min(1).max(100).default('local-dev'), role: role.default('operator') }).default({ user: 'local-dev', role: 'operator' }),
    /** Longest expiry an API token may be given, in days. */
    tokenMaxDays: z.number().int().min(1).max(3650).default(365),
  })
  .superRefine((auth, ctx) => {
    if (auth.mode !== 'oidc') return;
    if (!auth.oidc) ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'mode oidc needs an oidc block: { issuer, clientId, clientSecret: { env: ... } }' });
    if (!auth.publicUrl) ctx.addIssue({ code: 'custom', path: ['publicUrl'], message: 'mode oidc needs publicUrl, the URL people open (the provider redirects back to it)' });
    if (!auth.sessionSecret) ctx.addIssue({ code: 'custom', path: ['sessionSecret'], message: 'mode oidc needs sessionSecret: { env: ... } or { file: ... }' });
  });

export type DashboardAuthConfig = z.output<typeof dashboardAuthSchema>;
export type OidcConfig = z.output<typeof oidcSchema>;

/**
 * The role of a signed-in user: listed by name first, else the strongest role any
 * of their groups maps to, else the configured default (`none`: not let in).
 */
export function roleForUser(roles: DashboardAuthConfig['roles'], name: string, groups: readonly string[]): Role | 'none' {
  const listed = roles.users[name];
  if (listed) return listed;
  let best: Role | null = null;
  for (const g of groups) {
    const r = roles.groups[g];
    if (r && (best === null || roleAtLeast(r, best))) best = r;
  }
  return best ?? roles.default;
}
