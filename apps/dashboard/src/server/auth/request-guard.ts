import { createHmac, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { LockscopeError, roleAtLeast, type Role } from '@lockscope/core';
import { verifyApiToken, type AuditInput, type Store } from '@lockscope/store';
import type { AuthSettings } from './auth-settings';

/** Who is asking, as the server decided it: never taken from the request body. */
export interface Actor {
  name: string;
  role: Role;
  via: 'token' | 'session' | 'local-dev' | 'anonymous';
}

/** A signed-in browser user (from the OIDC session cookie). */
export interface SessionUser {
  name: string;
  role: Role;
  /** Stable per session: the CSRF token is bound to it. */
  sessionKey: string;
}

export interface GateOptions {
  settings: AuthSettings;
  getStore(): Promise<Store>;
  /** The OIDC session behind the request's cookies, or null. */
  sessionUser?(request: Request): Promise<SessionUser | null>;
  now?: () => number;
}

export const CSRF_HEADER = 'x-lockscope-csrf';
const LOCAL_DEV_SESSION = 'local-dev';

/** Host header name without the port, lower case; IPv6 stays in brackets. */
function hostNameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

const bearerOf = (request: Request): string | null => {
  const header = request.headers.get('authorization');
  if (header === null) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  // A malformed Authorization header is a failed sign-in, not an anonymous request.
  return m ? m[1]! : '';
};

/**
 * The server-side checks every /api/v1 request goes through. Reads: Host allow-list
 * (DNS rebinding) and, with OIDC, a session or token. Actions: additionally no
 * anonymous or read-only access, the role, and for browser requests the Origin and
 * a CSRF token bound to the session. The response never carries CORS headers, so
 * no other origin may read an answer or send a preflighted request.
 */
export function createGate(options: GateOptions) {
  const { settings } = options;
  const now = options.now ?? Date.now;
  const serverHost = `dashboard@${hostname()}`;

  const csrfFor = (sessionKey: string) => createHmac('sha256', settings.sessionSecret).update(`csrf|${sessionKey}`).digest('base64url');

  /** The Host header; a request without one (HTTP/1.0, in-process calls) is judged by its URL. */
  const hostOf = (request: Request): string => request.headers.get('host') ?? new URL(request.url).host;

  function checkHost(request: Request): void {
    const host = hostOf(request);
    if (!settings.allowedHosts.has(hostNameOf(host))) {
      throw new LockscopeError(
        'FORBIDDEN',
        `This dashboard does not answer to the host name ${JSON.stringify(hostNameOf(host).slice(0, 100))}. Open it by an allowed name (${[...settings.allowedHosts].join(', ')}), or add the name to dashboard.auth.allowedHosts.`,
      );
    }
  }

  async function audit(record: Omit<AuditInput, 'at' | 'host' | 'source' | 'lockName' | 'reason'> & Partial<Pick<AuditInput, 'source' | 'lockName' | 'reason'>>): Promise<void> {
    const store = await options.getStore();
    await store.recordAudit({ at: now(), host: serverHost, source: '', lockName: '', reason: '', ...record });
  }

  async function tokenActor(presented: string, request: Request, acting: boolean): Promise<Actor> {
    const token = presented === '' ? null : await verifyApiToken(await options.getStore(), presented, now());
    if (!token) {
      if (acting) {
        await audit({ actor: '(unknown token)', action: 'sign_in', result: 'failed', target: `${request.method} ${new URL(request.url).pathname}`, detail: 'missing, revoked, expired or malformed API token' }).catch(() => {});
      }
      throw new LockscopeError('UNAUTHORIZED', 'The API token is missing, revoked, expired or malformed. Ask an admin for a new one.');
    }
    return { name: token.name, role: token.role, via: 'token' };
  }

  async function browserActor(request: Request): Promise<{ actor: Actor; sessionKey: string } | null> {
    if (settings.mode === 'local-dev') return { actor: { name: settings.localDev.user, role: settings.localDev.role, via: 'local-dev' }, sessionKey: LOCAL_DEV_SESSION };
    if (settings.mode === 'oidc' && options.sessionUser) {
      const user = await options.sessionUser(request);
      if (user) return { actor: { name: user.name, role: user.role, via: 'session' }, sessionKey: user.sessionKey };
    }
    return null;
  }

  return {
    settings,
    audit,
    checkHost,

    /** For GETs: who reads; refuses foreign hosts and, with OIDC, strangers. */
    async read(request: Request): Promise<Actor> {
      checkHost(request);
      const bearer = bearerOf(request);
      if (bearer !== null) return tokenActor(bearer, request, false);
      const browser = await browserActor(request);
      if (browser) return browser.actor;
      if (settings.mode === 'oidc') throw new LockscopeError('UNAUTHORIZED', 'Sign in to see this dashboard.');
      return { name: 'anonymous', role: 'viewer', via: 'anonymous' };
    },

    /** For state-changing requests: the actor, once every check passed. */
    async act(request: Request, needed: Role): Promise<Actor> {
      checkHost(request);
      const bearer = bearerOf(request);
      let actor: Actor;
      if (bearer !== null) {
        // Browsers cannot attach an Authorization header cross-site without a CORS
        // preflight this server never grants, so a token request needs no Origin check.
        actor = await tokenActor(bearer, request, true);
      } else {
        if (settings.mode === 'none') {
          throw new LockscopeError(
            'READ_ONLY',
            'This dashboard is read-only: lockscope.yaml has no dashboard.auth. Configure sign-in (dashboard.auth.mode: oidc) or API tokens, or set dashboard.auth.mode: local-dev for a local operator on this machine.',
          );
        }
        const browser = await browserActor(request);
        if (!browser) throw new LockscopeError('UNAUTHORIZED', 'Sign in, or send an API token (Authorization: Bearer lsk_…).');
        const origin = request.headers.get('origin');
        const host = hostOf(request);
        let sameOrigin = false;
        try {
          sameOrigin = origin !== null && new URL(origin).host === host.toLowerCase();
        } catch {
          sameOrigin = false;
        }
        const fetchSite = request.headers.get('sec-fetch-site');
        if (!sameOrigin || (fetchSite !== null && fetchSite !== 'same-origin')) {
          throw new LockscopeError('FORBIDDEN', 'Refused: the request did not come from this dashboard\'s own pages (Origin check). Scripts use an API token.');
        }
        const sent = request.headers.get(CSRF_HEADER) ?? '';
        const expected = csrfFor(browser.sessionKey);
        if (sent.length !== expected.length || !timingSafeEqual(Buffer.from(sent), Buffer.from(expected))) {
          throw new LockscopeError('FORBIDDEN', 'Refused: missing or stale CSRF token. Reload the page and try again.');
        }
        actor = browser.actor;
      }
      if (!roleAtLeast(actor.role, needed)) {
        await audit({ actor: actor.name, role: actor.role, action: 'refused', result: 'forbidden', target: `${request.method} ${new URL(request.url).pathname}`, detail: `needs ${needed}` }).catch(() => {});
        throw new LockscopeError('FORBIDDEN', `${actor.name} has the ${actor.role} role; this needs ${needed}.`);
      }
      return actor;
    },

    /** What the page needs to know about the reader: name, role and the CSRF token for its actions. */
    async session(request: Request) {
      checkHost(request);
      const browser = await browserActor(request);
      return {
        mode: settings.mode,
        user: browser ? { name: browser.actor.name, role: browser.actor.role } : null,
        csrfToken: browser ? csrfFor(browser.sessionKey) : null,
        signInUrl: settings.mode === 'oidc' ? '/api/auth/signin' : null,
      };
    },
  };
}

export type Gate = ReturnType<typeof createGate>;
