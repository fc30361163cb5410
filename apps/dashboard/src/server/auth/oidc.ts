// Sign-in with OpenID Connect through next-auth (Auth.js for Next.js), v4.
//
// Why next-auth v4 and not Auth.js v5 or better-auth: v4 is the stable, maintained
// release line (v5 has only ever shipped as a beta), it supports next 16 and Node 20,
// it speaks any OIDC provider from its discovery document, and with JWT sessions
// it needs no database tables: stateless dashboards behind a load balancer share
// nothing but the session secret. better-auth keeps users and sessions in its own
// database schema, which would be a second store beside ours for what is, here,
// only "who is this and which groups are they in".
import { randomBytes } from 'node:crypto';
import { roleForUser, type Role } from '@lockscope/core';
import type { NextAuthOptions } from 'next-auth';
import type { AuthSettings } from './auth-settings';
import type { Gate, SessionUser } from './request-guard';

export const OIDC_PROVIDER_ID = 'oidc';

/** What the session JWT (an encrypted cookie) carries, besides next-auth's own fields. */
interface LockscopeJwt {
  lsName?: string;
  lsRole?: Role;
  lsSid?: string;
}

function claimString(profile: Record<string, unknown>, claim: string): string | null {
  const v = profile[claim];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

function claimList(profile: Record<string, unknown>, claim: string): string[] {
  const v = profile[claim];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
}

/** The next-auth options for this dashboard; null unless dashboard.auth.mode is oidc. */
export function oidcOptions(settings: AuthSettings, gate: Gate): NextAuthOptions | null {
  const oidc = settings.oidc;
  if (settings.mode !== 'oidc' || !oidc) return null;
  const audit = (actor: string, result: string, detail: string) =>
    gate.audit({ actor, action: 'sign_in', result, target: 'dashboard', detail: detail.slice(0, 500) }).catch((error: unknown) => {
      console.error(`lockscope dashboard: could not audit a sign-in ${result}: ${error instanceof Error ? error.message : String(error)}`);
    });
  return {
    secret: settings.sessionSecret,
    session: { strategy: 'jwt', maxAge: settings.sessionMaxAgeSeconds },
    providers: [
      {
        id: OIDC_PROVIDER_ID,
        name: oidc.name,
        type: 'oauth',
        wellKnown: `${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
        clientId: oidc.clientId,
        clientSecret: oidc.clientSecret,
        authorization: { params: { scope: oidc.scopes.join(' ') } },
        checks: ['pkce', 'state'],
        // The ID token is checked (issuer, audience, signature, nonce/PKCE) and its
        // claims merged with userinfo's: many providers put groups only in one of them.
        idToken: true,
        userinfo: {
          async request({ client, tokens }) {
            // next-auth types the token set loosely; it is openid-client's TokenSet.
            const set = tokens as unknown as { claims(): Record<string, unknown>; access_token?: string };
            const info = set.access_token ? ((await client.userinfo(set.access_token).catch(() => ({}))) as Record<string, unknown>) : {};
            return { ...set.claims(), ...info };
          },
        },
        profile(profile: Record<string, unknown>) {
          const sub = claimString(profile, 'sub') ?? 'unknown';
          return { id: sub, name: claimString(profile, oidc.userClaim) ?? sub };
        },
      },
    ],
    callbacks: {
      async signIn({ profile }) {
        const p = (profile ?? {}) as Record<string, unknown>;
        const name = claimString(p, oidc.userClaim) ?? claimString(p, 'sub') ?? 'unknown';
        const role = roleForUser(settings.roles, name, claimList(p, oidc.groupsClaim));
        if (role === 'none') {
          await audit(name, 'refused', 'no role: not listed in dashboard.auth.roles and the default is none');
          return false;
        }
        return true;
      },
      async jwt({ token, profile }) {
        const t = token as typeof token & LockscopeJwt;
        if (profile) {
          const p = profile as Record<string, unknown>;
          const name = claimString(p, oidc.userClaim) ?? claimString(p, 'sub') ?? 'unknown';
          const role = roleForUser(settings.roles, name, claimList(p, oidc.groupsClaim));
          t.lsName = name;
          t.lsRole = role === 'none' ? 'viewer' : role;
          // Binds the CSRF token to this sign-in; a new sign-in gets a new one.
          t.lsSid = randomBytes(18).toString('base64url');
          await gate.audit({ actor: name, role: t.lsRole, action: 'sign_in', result: 'ok', target: 'dashboard' }).catch(() => {});
        }
        return t;
      },
      session({ session, token }) {
        const t = token as typeof token & LockscopeJwt;
        // Only what the pages need; never the provider's tokens.
        return { expires: session.expires, user: { name: t.lsName ?? null }, lsRole: t.lsRole ?? null, lsSid: t.lsSid ?? null } as typeof session;
      },
    },
    // next-auth's own logger prints error objects whole, which can carry provider
    // responses; log the code and a short message only, and audit the failure.
    logger: {
      error(code: string, metadata: unknown) {
        const m = metadata as { message?: unknown; error?: { message?: unknown } } | Error | undefined;
        const inner = m && !(m instanceof Error) ? m.error?.message : undefined;
        const message = m instanceof Error ? m.message : typeof inner === 'string' ? inner : typeof m?.message === 'string' ? m.message : '';
        console.error(`lockscope dashboard: sign-in error ${code}${message ? `: ${message.slice(0, 200)}` : ''}`);
        void audit('(sign-in)', 'failed', `${code}${message ? `: ${message}` : ''}`);
      },
      warn(code: string) {
        console.warn(`lockscope dashboard: sign-in warning ${code}`);
      },
      debug() {},
    },
  };
}

/** The signed-in user behind the request's session cookie, or null. */
export async function sessionUserOf(options: NextAuthOptions): Promise<SessionUser | null> {
  const { getServerSession } = await import('next-auth/next');
  const session = (await getServerSession(options)) as { user?: { name?: string | null }; lsRole?: Role | null; lsSid?: string | null } | null;
  if (!session?.user?.name || !session.lsRole || !session.lsSid) return null;
  return { name: session.user.name, role: session.lsRole, sessionKey: session.lsSid };
}
