'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { postJson } from '../lib/api-client';
import { can, useSession } from '../lib/session';
import { UntrustedText } from './untrusted-text';

interface Released {
  released: boolean;
  holder: string | null;
  token: string | null;
  actions: string[];
}

/**
 * Force-release for operators: names the hold it will release, asks why, and sends
 * what it showed so the server refuses if the lock changed hands meanwhile.
 */
export function ReleasePanel({ lockId, holder, token }: { lockId: string; holder: string | null; token: string | null }) {
  const session = useSession();
  const client = useQueryClient();
  // The hold as it was when the dialog opened: the page keeps polling, and the release
  // must name what the person read, so a change in between is refused, not followed.
  const [seen, setSeen] = useState<{ holder: string; token: string | null } | null>(null);
  const [reason, setReason] = useState('');
  const release = useMutation({
    mutationFn: (hold: { holder: string; token: string | null }) =>
      postJson<Released>(`/api/v1/locks/${lockId}/release`, { reason, expectHolder: hold.holder, expectToken: hold.token }, session.data?.csrfToken ?? null),
    onSettled: () => client.invalidateQueries({ queryKey: ['lock', lockId] }),
  });
  if (!can(session.data, 'operator')) return null;

  if (seen === null) {
    if (holder === null) return null;
    return (
      <p>
        <button type="button" onClick={() => setSeen({ holder, token })}>
          Force release…
        </button>
      </p>
    );
  }
  return (
    <form
      className="panel"
      role="dialog"
      aria-labelledby="release-h"
      data-testid="release-dialog"
      onSubmit={(e) => {
        e.preventDefault();
        release.mutate(seen);
      }}
    >
      <h3 id="release-h" style={{ marginTop: 0 }}>
        Force release
      </h3>
      <p>
        Releases only this hold: holder <UntrustedText value={seen.holder} max={60} />, token <UntrustedText value={seen.token ?? 'none'} max={24} />. If the lock changed hands since, nothing is deleted.
      </p>
      <p className="warn" data-testid="release-warning">
        The old holder is not told: it may still believe it holds the lock and keep working. Stop it first if you can.
      </p>
      <label>
        Reason (for the audit record)
        <input name="reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} required minLength={3} placeholder="holder pod is gone, INC-1234" />
      </label>{' '}
      <button type="submit" disabled={release.isPending || release.isSuccess || reason.trim().length < 3}>
        Release
      </button>{' '}
      <button
        type="button"
        className="link"
        onClick={() => {
          setSeen(null);
          release.reset();
        }}
      >
        {release.isSuccess ? 'Close' : 'Cancel'}
      </button>
      {release.isError && (
        <div className="state error" role="alert" data-testid="release-error">
          Not released: {release.error instanceof Error ? release.error.message : String(release.error)}
        </div>
      )}
      {release.isSuccess && (
        <div className="state" role="status" data-testid="release-done">
          Released. {release.data.actions.join(' ')}
        </div>
      )}
    </form>
  );
}
