'use client';

import type { SourceView } from '@lockscope/store';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { fetchJson } from '../lib/api-client';
import { formatCount, formatMs, formatTime } from '../lib/format';
import { Empty, ErrorState, Loading } from './states';
import { UntrustedText } from './untrusted-text';
import { UpdatedAgo } from './updated-ago';

export function SourcesView() {
  const q = useQuery({ queryKey: ['sources'], queryFn: ({ signal }) => fetchJson<{ sources: SourceView[] }>('/api/v1/sources', signal) });
  return (
    <>
      <h1>
        Sources <UpdatedAgo at={q.dataUpdatedAt} fetching={q.isFetching} failing={q.isError} />
      </h1>
      {q.isError && !q.data ? (
        <ErrorState error={q.error} what="sources" />
      ) : !q.data ? (
        <Loading what="sources" />
      ) : q.data.sources.length === 0 ? (
        <Empty>No source has reported yet. Sources are listed in lockscope.yaml and reported by the collector.</Empty>
      ) : (
        <>
          {q.isError && <ErrorState error={q.error} what="sources" />}
          <table className="data" data-testid="sources-table">
            <thead>
              <tr>
                <th scope="col">Source</th>
                <th scope="col">Kind</th>
                <th scope="col">Health</th>
                <th scope="col">Last event</th>
                <th scope="col" className="num">
                  Ingest lag
                </th>
                <th scope="col" className="num">
                  Locks
                </th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {q.data.sources.map((s) => (
                <tr key={s.name}>
                  <td>
                    <Link href={`/?source=${encodeURIComponent(s.name)}`}>
                      <UntrustedText value={s.name} max={40} />
                    </Link>
                  </td>
                  <td>{s.kind}</td>
                  <td>
                    {s.up ? <span className="badge ok">up</span> : <span className="badge bad">{s.connected ? 'silent' : 'down'}</span>}
                  </td>
                  <td>{formatTime(s.lastEventAt)}</td>
                  <td className="num">{formatMs(s.ingestLagMs)}</td>
                  <td className="num">{formatCount(s.lockCount)}</td>
                  <td>
                    <UntrustedText value={s.lastError} max={80} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
