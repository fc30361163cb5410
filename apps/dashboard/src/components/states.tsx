import { ApiError } from '../lib/api-client';

export function Loading({ what }: { what: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <div className="state">{children}</div>;
}

const HINTS: Record<string, string> = {
  STORE_UNAVAILABLE: 'The dashboard cannot read the Lockscope store. Check that the database is running and reachable, and that the collector has created it (npm run db:migrate).',
  NETWORK: 'The dashboard server itself did not answer.',
  LOCK_NOT_FOUND: 'This lock is not in the store. It may have been purged, or the link is wrong.',
  BAD_REQUEST: 'The page asked for something the API does not accept; the URL may be malformed.',
};

export function ErrorState({ error, what }: { error: unknown; what: string }) {
  const api = error instanceof ApiError ? error : null;
  const code = api?.code ?? 'ERROR';
  const title = code === 'STORE_UNAVAILABLE' ? 'Store unavailable' : code === 'LOCK_NOT_FOUND' ? 'Lock not found' : `Could not load ${what}`;
  return (
    <div className="state error" role="alert" data-error-code={code}>
      <h2>{title}</h2>
      {HINTS[code] && <p>{HINTS[code]}</p>}
      <p>
        <code>
          {api ? `${api.status || 'no response'} ${code}: ` : ''}
          {error instanceof Error ? error.message : String(error)}
        </code>
      </p>
      <p className="muted">Retrying every few seconds.</p>
    </div>
  );
}
