'use client';

import { signIn, signOut } from 'next-auth/react';
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
    // signIn() navigates to the provider from script: a form post that redirects to
    // another origin would be blocked by the CSP's form-action 'self'.
    return data.signInUrl ? (
      <button type="button" data-testid="sign-in" onClick={() => void signIn('oidc')}>
        Sign in
      </button>
    ) : null;
  }
  return (
    <span className="badge" data-testid="session">
      <UntrustedText value={data.user.name} max={40} /> · {data.user.role}
      {data.mode === 'local-dev' ? ' (local-dev)' : ''}
      {data.mode === 'oidc' && (
        <>
          {' '}
          <button type="button" className="link" onClick={() => void signOut()}>
            sign out
          </button>
        </>
      )}
    </span>
  );
}
