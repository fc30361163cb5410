'use client';

import { useSession } from '../lib/session';
import { UntrustedText } from './untrusted-text';

/** Who the dashboard thinks you are, or why it is read-only. */
export function SessionBadge() {
  const { data } = useSession();
  if (!data) return null;
  if (data.mode === 'none') {
    return (
      <span className="badge muted" data-testid="session" title="lockscope.yaml has no dashboard.auth: nothing can be changed from this page">
        read-only
      </span>
    );
  }
  if (!data.user) {
    return data.signInUrl ? (
      <a className="badge" data-testid="session" href={data.signInUrl}>
        Sign in
      </a>
    ) : null;
  }
  return (
    <span className="badge" data-testid="session">
      <UntrustedText value={data.user.name} max={40} /> · {data.user.role}
      {data.mode === 'local-dev' ? ' (local-dev)' : ''}
      {data.mode === 'oidc' && (
        <>
          {' '}
          <a href="/api/auth/signout">sign out</a>
        </>
      )}
    </span>
  );
}
