'use client';

import type { LockList, LockListItem, LockSort, Overview, SourceView } from '@lockscope/store';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useEffect, useState } from 'react';
import { ApiError, fetchJson, query } from '../lib/api-client';
import { formatCount, formatMs } from '../lib/format';
import { LeaseBar } from './lease-bar';
import { Empty, ErrorState, Loading } from './states';
import { UntrustedText } from './untrusted-text';
import { UpdatedAgo } from './updated-ago';

const SLOW_P95_MS = 50;
const STATES = ['held', 'free', 'near-expiry', 'contended'] as const;
const PAGE_SIZES = [25, 50, 100, 200];

interface Column {
  key: string;
  label: string;
  sort?: LockSort;
  num?: boolean;
}

const COLUMNS: Column[] = [
  { key: 'source', label: 'Source', sort: 'source' },
  { key: 'name', label: 'Lock', sort: 'name' },
  { key: 'dialect', label: 'Dialect', sort: 'dialect' },
  { key: 'holder', label: 'Holder' },
  { key: 'token', label: 'Token' },
  { key: 'held', label: 'Held for', sort: 'heldFor', num: true },
  { key: 'ttl', label: 'TTL', sort: 'ttl', num: true },
  { key: 'lease', label: 'Lease used (remaining)', sort: 'expires' },
  { key: 'waiters', label: 'Waiters', sort: 'waiters', num: true },
  { key: 'p95', label: 'P95 acq. (1 h)', num: true },
  { key: 'alerts', label: 'Alerts', num: true },
];

export function OverviewView() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const source = params.get('source') ?? '';
  const name = params.get('name') ?? '';
  const state = params.get('state') ?? '';
  const sort = (params.get('sort') ?? 'name') as LockSort;
  const order = params.get('order') === 'desc' ? 'desc' : 'asc';
  const limit = Number(params.get('limit') ?? 50) || 50;
  const cursor = params.get('cursor') ?? '';
  // Earlier pages' cursors, so "Previous" works; not in the URL (a shared link starts at its page).
  const [history, setHistory] = useState<string[]>([]);
  const [nameDraft, setNameDraft] = useState(name);

  const setParams = (changes: Record<string, string | null>, keepCursor = false) => {
    const next = new URLSearchParams(params.toString());
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    if (!keepCursor) {
      next.delete('cursor');
      setHistory([]);
    }
    const qs = next.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  };

  // Type-to-filter without a request per key stroke.
  useEffect(() => {
    if (nameDraft === name) return;
    const t = setTimeout(() => setParams({ name: nameDraft }), 300);
    return () => clearTimeout(t);
  }, [nameDraft]);

  const overview = useQuery({ queryKey: ['overview'], queryFn: ({ signal }) => fetchJson<Overview>('/api/v1/overview', signal) });
  const sources = useQuery({
    queryKey: ['sources'],
    queryFn: ({ signal }) => fetchJson<{ sources: SourceView[] }>('/api/v1/sources', signal),
  });
  const locksPath = `/api/v1/locks${query({ source, name, state, sort, order, limit, cursor })}`;
  const locks = useQuery({ queryKey: ['locks', locksPath], queryFn: ({ signal }) => fetchJson<LockList>(locksPath, signal) });

  const toggleSort = (key: LockSort) => {
    if (key === sort) setParams({ order: order === 'asc' ? 'desc' : 'asc' });
    else setParams({ sort: key, order: key === 'heldFor' || key === 'waiters' ? 'desc' : 'asc' });
  };

  return (
    <>
      <h1>
        Fleet overview <UpdatedAgo at={Math.min(overview.dataUpdatedAt, locks.dataUpdatedAt) || overview.dataUpdatedAt} fetching={overview.isFetching} failing={overview.isError || locks.isError} />
      </h1>
      {overview.isError ? (
        <ErrorState error={overview.error} what="the overview" />
      ) : overview.data ? (
        <Headline o={overview.data} />
      ) : (
        <Loading what="overview" />
      )}

      <section aria-labelledby="locks-heading">
        <h2 id="locks-heading">Locks{locks.data ? ` (${locks.data.total.toLocaleString()} matching)` : ''}</h2>
        <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <label>
            Source
            <select value={source} onChange={(e) => setParams({ source: e.target.value })}>
              <option value="">all sources</option>
              {(sources.data?.sources ?? []).map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
              {source && !sources.data?.sources.some((s) => s.name === source) && <option value={source}>{source}</option>}
            </select>
          </label>
          <label>
            Name contains
            <input type="search" value={nameDraft} onChange={(e) => setNameDraft(e.target.value)} placeholder="e.g. cron/" maxLength={500} />
          </label>
          <label>
            State
            <select value={state} onChange={(e) => setParams({ state: e.target.value })}>
              <option value="">any</option>
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Per page
            <select value={limit} onChange={(e) => setParams({ limit: e.target.value === '50' ? null : e.target.value })}>
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          {(source || name || state) && (
            <button
              type="button"
              onClick={() => {
                setNameDraft('');
                setParams({ source: null, name: null, state: null });
              }}
            >
              Clear filters
            </button>
          )}
        </form>

        {locks.isError ? (
          overview.isError && sameFailure(overview.error, locks.error) ? (
            <p className="muted">The lock list is unavailable for the same reason.</p>
          ) : (
            <ErrorState error={locks.error} what="locks" />
          )
        ) : !locks.data ? (
          <Loading what="locks" />
        ) : locks.data.items.length === 0 ? (
          <Empty>{source || name || state ? 'No lock matches these filters.' : 'No locks in the store yet. Start the collector with a source in lockscope.yaml.'}</Empty>
        ) : (
          <>
            <div style={{ overflowX: 'auto' }}>
              <table className="data" data-testid="lock-table">
                <thead>
                  <tr>
                    {COLUMNS.map((c) => (
                      <th key={c.key} className={c.num ? 'num' : undefined} scope="col" aria-sort={c.sort && c.sort === sort ? (order === 'asc' ? 'ascending' : 'descending') : undefined}>
                        {c.sort ? (
                          <button type="button" className="sort" onClick={() => toggleSort(c.sort!)}>
                            {c.label}
                            {c.sort === sort ? (order === 'asc' ? ' ▲' : ' ▼') : ''}
                          </button>
                        ) : (
                          c.label
                        )}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {locks.data.items.map((l) => (
                    <LockRow key={l.id} lock={l} />
                  ))}
                </tbody>
              </table>
            </div>
            <div className="pager">
              <button
                type="button"
                disabled={!cursor}
                onClick={() => {
                  const prev = history.at(-1) ?? '';
                  setHistory((h) => h.slice(0, -1));
                  setParams({ cursor: prev || null }, true);
                }}
              >
                ← Previous
              </button>
              <button
                type="button"
                disabled={!locks.data.nextCursor}
                onClick={() => {
                  setHistory((h) => [...h, cursor]);
                  setParams({ cursor: locks.data.nextCursor }, true);
                }}
              >
                Next →
              </button>
              <span className="muted">{locks.data.items.length} shown</span>
            </div>
          </>
        )}
      </section>
    </>
  );
}

function sameFailure(a: unknown, b: unknown): boolean {
  return a instanceof ApiError && b instanceof ApiError && a.code === b.code;
}

function Headline({ o }: { o: Overview }) {
  const p95 = o.acquisition.p95Ms;
  return (
    <div className="cards" data-testid="headline">
      <Card label="Locks held now" value={formatCount(o.locksHeld)} sub={`of ${formatCount(o.locks)} known`} />
      <Card label="Near expiry now" value={formatCount(o.nearExpiryNow)} tone={o.nearExpiryNow > 0 ? 'warn' : undefined} sub="lease used > 0.8 × TTL" testId="near-expiry-count" />
      <Card
        label="Fleet P95 acquisition (5 min)"
        value={p95 === null ? '—' : formatMs(p95)}
        tone={p95 !== null && p95 > SLOW_P95_MS ? 'bad' : undefined}
        sub={
          !o.waitersObservable
            ? 'not observable for these dialects'
            : p95 === null
              ? 'no waited acquisitions in 5 min'
              : `${o.acquisition.samples} samples · healthy < ${formatMs(SLOW_P95_MS)}`
        }
      />
      <Card label="Locks with waiters" value={o.waitersObservable ? formatCount(o.locksWithWaiters) : '—'} sub={o.waitersObservable ? undefined : 'not observable for these dialects'} />
      <Card label="Lease expirations (1 h)" value={formatCount(o.expirationsLastHour)} tone={o.expirationsLastHour > 0 ? 'warn' : undefined} />
      <Card
        label="Sources"
        value={`${o.sources.up} up / ${o.sources.down} down`}
        tone={o.sources.down > 0 ? 'bad' : undefined}
        sub={o.sources.total === 0 ? 'none reported yet' : undefined}
      />
      <Card label="Open alerts" value={formatCount(o.openAlerts)} tone={o.openAlerts > 0 ? 'warn' : undefined} />
    </div>
  );
}

function Card({ label, value, sub, tone, testId }: { label: string; value: string; sub?: string | undefined; tone?: 'warn' | 'bad' | undefined; testId?: string }) {
  return (
    <div className={`card ${tone ?? ''}`} data-testid={testId}>
      <div className="label">{label}</div>
      <div className="value">{value}</div>
      {sub && <div className="sub">{sub}</div>}
    </div>
  );
}

function LockRow({ lock: l }: { lock: LockListItem }) {
  return (
    <tr className={l.nearExpiry ? 'near-expiry' : undefined} data-lock-id={l.id} data-near-expiry={l.nearExpiry ? 'true' : 'false'}>
      <td className="nowrap">
        <UntrustedText value={l.source} max={24} />
      </td>
      <td>
        <Link href={`/locks/${encodeURIComponent(l.id)}`} className="lock-link">
          <UntrustedText value={l.name} max={60} />
        </Link>{' '}
        {l.nearExpiry && (
          <span className="badge warn" data-testid="near-expiry-badge">
            near expiry
          </span>
        )}
        {!l.held && <span className="badge muted">free</span>}
      </td>
      <td className="muted nowrap">{l.dialect}</td>
      <td>
        <UntrustedText value={l.holder} max={28} />
      </td>
      <td className="mono">
        <UntrustedText value={l.token} max={14} />
      </td>
      <td className="num">{formatMs(l.heldMs)}</td>
      <td className="num">{formatMs(l.ttlMs)}</td>
      <td>
        <div className="row" style={{ flexWrap: 'nowrap' }}>
          <LeaseBar ratio={l.leaseUsedRatio} nearExpiry={l.nearExpiry} />
          <span className="muted" style={{ whiteSpace: 'nowrap', fontSize: 12 }}>
            {l.remainingMs === null ? '' : l.remainingMs === 0 ? 'lapsed' : formatMs(l.remainingMs)}
          </span>
        </div>
      </td>
      <td className="num">{l.waitersObservable ? l.waiters : <span className="muted" title="not observable for this dialect">n/o</span>}</td>
      <td className="num">
        {!l.waitersObservable ? (
          <span className="muted" title="not observable for this dialect">
            n/o
          </span>
        ) : (
          <span style={l.p95AcquisitionMs !== null && l.p95AcquisitionMs > SLOW_P95_MS ? { color: 'var(--bad)' } : undefined}>{formatMs(l.p95AcquisitionMs)}</span>
        )}
      </td>
      <td className="num">
        {l.openAlerts > 0 ? (
          <Link href={`/alerts?lockId=${encodeURIComponent(l.id)}`} className="badge bad" data-testid="alert-badge" aria-label={`${l.openAlerts} open ${l.openAlerts === 1 ? 'alert' : 'alerts'}; show them`}>
            {l.openAlerts}
          </Link>
        ) : (
          <span className="muted">0</span>
        )}
      </td>
    </tr>
  );
}
