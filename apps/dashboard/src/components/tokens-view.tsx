'use client';

import type { ApiTokenView } from '@lockscope/store';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { fetchJson, postJson } from '../lib/api-client';
import { formatTime } from '../lib/format';
import { can, useSession, type Role } from '../lib/session';
import { Empty, ErrorState, Loading } from './states';
import { UntrustedText } from './untrusted-text';

/** API tokens for automation (admins): create (the value is shown once), list, revoke. */
export function TokensView() {
  const session = useSession();
  const admin = can(session.data, 'admin');
  const client = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: ({ signal }) => fetchJson<{ tokens: ApiTokenView[] }>('/api/v1/tokens', signal), enabled: admin });
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('operator');
  const [days, setDays] = useState(90);
  const csrf = session.data?.csrfToken ?? null;
  const create = useMutation({
    mutationFn: () => postJson<{ token: ApiTokenView; secret: string }>('/api/v1/tokens', { name: name.trim(), role, expiresInDays: days }, csrf),
    onSettled: () => client.invalidateQueries({ queryKey: ['tokens'] }),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => postJson<ApiTokenView>(`/api/v1/tokens/${id}/revoke`, {}, csrf),
    onSettled: () => client.invalidateQueries({ queryKey: ['tokens'] }),
  });

  if (session.isPending) return <Loading what="session" />;
  if (!admin) return <Empty>API tokens are managed by admins.</Empty>;
  return (
    <>
      <h1>API tokens</h1>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required placeholder="ci-acker" />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="viewer">viewer</option>
            <option value="operator">operator</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label>
          Expires in (days)
          <input type="number" min={1} value={days} onChange={(e) => setDays(Number(e.target.value))} />
        </label>
        <button type="submit" disabled={create.isPending || name.trim() === ''}>
          Create
        </button>
      </form>
      {create.isError && (
        <div className="state error" role="alert">
          Not created: {create.error instanceof Error ? create.error.message : String(create.error)}
        </div>
      )}
      {create.isSuccess && (
        <div className="panel" role="status" data-testid="new-token">
          <p>
            Token <strong>{create.data.token.name}</strong> created. Copy it now: it is shown only this once and stored only as a hash.
          </p>
          <code className="mono">{create.data.secret}</code>
        </div>
      )}
      {tokens.isPending ? (
        <Loading what="tokens" />
      ) : tokens.isError ? (
        <ErrorState error={tokens.error} what="tokens" />
      ) : tokens.data.tokens.length === 0 ? (
        <Empty>No API tokens yet.</Empty>
      ) : (
        <table data-testid="tokens-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {tokens.data.tokens.map((t) => (
              <tr key={t.id}>
                <td>
                  <UntrustedText value={t.name} max={40} />
                </td>
                <td>{t.role}</td>
                <td>
                  {formatTime(t.createdAt)} by <UntrustedText value={t.createdBy} max={24} />
                </td>
                <td>{formatTime(t.expiresAt)}</td>
                <td>{t.lastUsedAt === null ? <span className="muted">never</span> : formatTime(t.lastUsedAt)}</td>
                <td>{t.revokedAt !== null ? 'revoked' : t.expiresAt <= Date.now() ? 'expired' : 'active'}</td>
                <td>
                  {t.revokedAt === null && (
                    <button type="button" disabled={revoke.isPending} onClick={() => revoke.mutate(t.id)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
