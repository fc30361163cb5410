'use client';

import { useQuery } from '@tanstack/react-query';
import { fetchJson } from './api-client';

export type Role = 'viewer' | 'operator' | 'admin';
const ORDER: Role[] = ['viewer', 'operator', 'admin'];

/** GET /api/v1/session: who the server thinks is looking, and the CSRF token for their actions. */
export interface SessionInfo {
  mode: 'none' | 'local-dev' | 'oidc';
  user: { name: string; role: Role } | null;
  csrfToken: string | null;
  signInUrl: string | null;
}

export function useSession() {
  return useQuery({ queryKey: ['session'], queryFn: ({ signal }) => fetchJson<SessionInfo>('/api/v1/session', signal), staleTime: 60_000, refetchInterval: 60_000 });
}

/**
 * Whether to show a control. Only a convenience: the server checks the role again
 * on every action, so a hidden button is not the protection.
 */
export function can(session: SessionInfo | undefined, needed: Role): boolean {
  const role = session?.user?.role;
  return role !== undefined && session?.csrfToken != null && ORDER.indexOf(role) >= ORDER.indexOf(needed);
}
