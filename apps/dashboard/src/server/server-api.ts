import { createEtcdSource, createRedisSource, type LockSource } from '@lockscope/sources';
import NextAuth, { type NextAuthOptions } from 'next-auth';
import { createApi } from './api';
import { oidcOptions, sessionUserOf } from './auth/oidc';
import { createGate } from './auth/request-guard';
import { createReleaseApi } from './release-api';
import { errorResponse, toErrorResponse } from './respond';
import { runtime } from './runtime';

function build() {
  const rt = runtime();
  const getStore = () => rt.getStore();
  let oidc: NextAuthOptions | null = null;
  const gate = createGate({ settings: rt.auth, getStore, sessionUser: async () => (oidc ? sessionUserOf(oidc) : null) });
  oidc = oidcOptions(rt.auth, gate);
  // next-auth builds its callback URLs from NEXTAUTH_URL and reads nothing else for
  // them; without it, it would trust the request's Host header.
  if (oidc && rt.auth.publicUrl) process.env.NEXTAUTH_URL = rt.auth.publicUrl;
  const nextAuth = oidc ? (NextAuth(oidc) as (request: Request, context: { params: Promise<{ nextauth: string[] }> }) => Promise<Response>) : null;
  const openSource = (name: string): LockSource | null => {
    const config = rt.config.sources.find((s) => s.name === name);
    if (!config) return null;
    // One short conversation per release, as lockctl has: fail fast rather than retry patiently.
    return config.kind === 'etcd' ? createEtcdSource(config) : createRedisSource(config, { connectTimeoutMs: 3_000 });
  };
  return {
    ...createApi({ getStore, sourceDownAfterMs: rt.config.alerts.sourceDownAfter, gate }),
    ...createReleaseApi({ getStore, gate, openSource }),
    /** /api/auth/*: next-auth's sign-in, callback and sign-out, behind the same Host check. */
    async auth(request: Request, context: { params: Promise<{ nextauth: string[] }> }): Promise<Response> {
      try {
        gate.checkHost(request);
      } catch (error) {
        return toErrorResponse(error);
      }
      if (!nextAuth) return errorResponse(404, 'NOT_FOUND', 'Sign-in is not configured: dashboard.auth.mode is not oidc.');
      return nextAuth(request, context);
    },
  };
}

let api: ReturnType<typeof build> | null = null;

/** The handlers bound to this server's store, sources and auth settings; built on first use. */
export function serverApi(): ReturnType<typeof build> {
  api ??= build();
  return api;
}
