'use client';

import type { AlertView, HoldView, LockDetail, LockHolds, LockMetrics } from '@lockscope/store';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { fetchJson, query } from '../lib/api-client';
import { formatMs, formatPct, formatTime } from '../lib/format';
import { fromLocalInput, RANGES, resolveRange, toLocalInput, type RangeKey } from '../lib/time-range';
import { ContentionChart, HoldTtlChart, LatencyChart, type AlertMarker } from './charts';
import { LeaseBar } from './lease-bar';
import { ErrorState, Loading } from './states';
import { ReleasePanel } from './release-panel';
import { AlertMessage, UntrustedText, visible } from './untrusted-text';
import { UpdatedAgo } from './updated-ago';

const ALERT_MARKER_LIMIT = 200;

export function LockDetailView({ id }: { id: string }) {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const spec = resolveRange(new URLSearchParams(params.toString()), Date.now());
  // Rolling ranges recompute "now" at every refresh; the key names the range, not the instant.
  const rangeKey = spec.rolling ? [spec.key] : [spec.from, spec.to];
  const currentRange = () => (spec.rolling ? resolveRange(new URLSearchParams(params.toString()), Date.now()) : spec);

  const detail = useQuery({
    queryKey: ['lock', id],
    queryFn: ({ signal }) => fetchJson<LockDetail>(`/api/v1/locks/${encodeURIComponent(id)}`, signal),
  });
  const metrics = useQuery({
    queryKey: ['metrics', id, ...rangeKey],
    queryFn: ({ signal }) => {
      const r = currentRange();
      return fetchJson<LockMetrics>(`/api/v1/locks/${encodeURIComponent(id)}/metrics${query({ from: r.from, to: r.to })}`, signal);
    },
  });
  const holds = useQuery({
    queryKey: ['holds', id, ...rangeKey],
    queryFn: ({ signal }) => {
      const r = currentRange();
      return fetchJson<LockHolds>(`/api/v1/locks/${encodeURIComponent(id)}/holds${query({ from: r.from, to: r.to })}`, signal);
    },
  });

  // Alerts of this lock that started in the range, for markers on the charts.
  const alerts = useQuery({
    queryKey: ['alerts', 'lock', id, ...rangeKey],
    queryFn: ({ signal }) => {
      const r = currentRange();
      return fetchJson<{ alerts: AlertView[] }>(`/api/v1/alerts${query({ lockId: id, since: r.from, limit: ALERT_MARKER_LIMIT })}`, signal);
    },
  });
  // Markers are extras: if this query fails, the charts still draw without them.
  const markers: AlertMarker[] = (alerts.data?.alerts ?? []).map((a) => ({ id: a.id, rule: a.rule, startedAt: a.startedAt, open: a.state === 'firing' }));

  const setRange = (key: RangeKey, from?: number, to?: number) => {
    const next = new URLSearchParams(params.toString());
    next.set('range', key);
    if (key === 'custom' && from !== undefined && to !== undefined) {
      next.set('from', String(from));
      next.set('to', String(to));
    } else {
      next.delete('from');
      next.delete('to');
    }
    router.replace(`${pathname}?${next.toString()}`, { scroll: false });
  };

  if (detail.isError && !detail.data) return <ErrorState error={detail.error} what="this lock" />;
  if (!detail.data) return <Loading what="lock" />;
  const l = detail.data;
  const failing = detail.isError || metrics.isError || holds.isError;

  return (
    <>
      <p>
        <Link href="/">← All locks</Link>
      </p>
      <h1>
        <UntrustedText value={l.name} max={80} />
        <span className="muted" style={{ fontSize: 14, fontWeight: 400 }}>
          {l.source} · {l.dialect}
        </span>
        {l.nearExpiry && (
          <span className="badge warn" data-testid="near-expiry-badge">
            near expiry
          </span>
        )}
        {l.openAlerts.length > 0 && (
          <Link href={`/alerts?lockId=${encodeURIComponent(l.id)}`} className="badge bad" data-testid="alert-badge">
            {l.openAlerts.length} open {l.openAlerts.length === 1 ? 'alert' : 'alerts'}
          </Link>
        )}
        <UpdatedAgo at={detail.dataUpdatedAt} fetching={detail.isFetching} failing={failing} />
      </h1>
      {detail.isError && <ErrorState error={detail.error} what="this lock" />}

      <div className="grid2">
        <section className="panel" aria-labelledby="holder-h">
          <h2 id="holder-h" style={{ marginTop: 0 }}>
            Current holder
          </h2>
          {l.held ? (
            <dl className="facts" data-testid="current-holder">
              <dt>Holder</dt>
              <dd>
                <UntrustedText value={l.holder} max={60} />
              </dd>
              <dt>Fencing token</dt>
              <dd className="mono">{l.token === null ? <span className="muted">none for this dialect</span> : <UntrustedText value={l.token} />}</dd>
              <dt>Acquired</dt>
              <dd>
                {formatTime(l.acquiredAt)} ({formatMs(l.heldMs)} ago)
              </dd>
              <dt>TTL</dt>
              <dd>{l.ttlMs === null ? <span className="muted">no TTL</span> : formatMs(l.ttlMs)}</dd>
              <dt>Lease used</dt>
              <dd>
                <LeaseBar ratio={l.leaseUsedRatio} nearExpiry={l.nearExpiry} /> {l.remainingMs !== null && <span className="muted">{formatMs(l.remainingMs)} left</span>}
              </dd>
              <dt>Last renewal</dt>
              <dd>{l.lastRenewedAt === null ? <span className="muted">none seen</span> : formatTime(l.lastRenewedAt)}</dd>
            </dl>
          ) : (
            <p className="muted">Free. {l.lastChangeAt ? `Last change ${formatTime(l.lastChangeAt)}.` : ''}</p>
          )}
          {l.held && <ReleasePanel lockId={l.id} holder={l.holder} token={l.token} />}
          {l.openAlerts.length > 0 && (
            <>
              <h2>
                Open alerts <Link href={`/alerts?lockId=${encodeURIComponent(l.id)}`} style={{ fontSize: 13, fontWeight: 400 }}>acknowledge or silence</Link>
              </h2>
              <ul>
                {l.openAlerts.map((a) => (
                  <li key={a.id}>
                    <span className="badge bad">{a.rule}</span> <AlertMessage text={a.message} /> <span className="muted">since {formatTime(a.startedAt)}</span>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
        <section className="panel" aria-labelledby="waiters-h">
          <h2 id="waiters-h" style={{ marginTop: 0 }}>
            Waiting now
          </h2>
          {l.waiterQueue === null ? (
            <p className="muted" data-testid="not-observable">
              Waiters are not observable for this dialect ({l.dialect}).
            </p>
          ) : l.waiterQueue.length === 0 ? (
            <p className="muted">Nobody is waiting.</p>
          ) : (
            <table className="data" data-testid="waiter-queue">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Contender</th>
                  <th scope="col">Token</th>
                  <th scope="col" className="num">
                    Waiting for
                  </th>
                </tr>
              </thead>
              <tbody>
                {l.waiterQueue.map((w, i) => (
                  <tr key={`${i}-${w.holder}`}>
                    <td>{i + 1}</td>
                    <td>
                      <UntrustedText value={w.holder} max={40} />
                    </td>
                    <td className="mono">
                      <UntrustedText value={w.token} max={16} />
                    </td>
                    <td className="num">{w.waitedMs === null ? <span className="muted">unknown</span> : formatMs(w.waitedMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>

      <RangePicker spec={spec} onPick={setRange} />

      <div className="grid2">
        <section className="panel" aria-labelledby="lat-h">
          <h2 id="lat-h" style={{ marginTop: 0 }}>
            Acquisition latency (P50 / P95 / P99)
          </h2>
          {metrics.isError ? <ErrorState error={metrics.error} what="metrics" /> : metrics.data ? <LatencyChart metrics={metrics.data} alerts={markers} /> : <Loading what="metrics" />}
        </section>
        <section className="panel" aria-labelledby="hold-h">
          <h2 id="hold-h" style={{ marginTop: 0 }}>
            Hold time against TTL
          </h2>
          {holds.isError ? (
            <ErrorState error={holds.error} what="holds" />
          ) : holds.data ? (
            <>
              {holds.data.truncated && <p className="muted">Showing the latest {holds.data.holds.length} holds in this range.</p>}
              <HoldTtlChart holds={holds.data.holds} from={holds.data.from} to={holds.data.to} alerts={markers} />
            </>
          ) : (
            <Loading what="holds" />
          )}
        </section>
      </div>
      <section className="panel" aria-labelledby="cont-h">
        <h2 id="cont-h" style={{ marginTop: 0 }}>
          Contention
        </h2>
        {metrics.isError ? <ErrorState error={metrics.error} what="metrics" /> : metrics.data ? <ContentionChart metrics={metrics.data} /> : <Loading what="metrics" />}
      </section>
      <section className="panel" aria-labelledby="tl-h">
        <h2 id="tl-h" style={{ marginTop: 0 }}>
          Holders
        </h2>
        {holds.isError ? <ErrorState error={holds.error} what="holds" /> : holds.data ? <HoldersTimeline data={holds.data} /> : <Loading what="holds" />}
      </section>
    </>
  );
}

function RangePicker({ spec, onPick }: { spec: ReturnType<typeof resolveRange>; onPick: (key: RangeKey, from?: number, to?: number) => void }) {
  const [from, setFrom] = useState(() => toLocalInput(spec.from));
  const [to, setTo] = useState(() => toLocalInput(spec.to));
  const [showCustom, setShowCustom] = useState(spec.key === 'custom');
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <div className="panel">
      <div className="range-picker" role="group" aria-label="Time range">
        <span className="muted">Range:</span>
        {(Object.keys(RANGES) as (keyof typeof RANGES)[]).map((k) => (
          <button key={k} type="button" aria-pressed={spec.key === k} onClick={() => (setShowCustom(false), onPick(k))}>
            {k}
          </button>
        ))}
        <button type="button" aria-pressed={spec.key === 'custom'} aria-expanded={showCustom} onClick={() => setShowCustom((s) => !s)}>
          custom
        </button>
        {showCustom && (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              const f = fromLocalInput(from);
              const t = fromLocalInput(to);
              if (f === null || t === null || f >= t) return setProblem('"From" must be a time before "to".');
              setProblem(null);
              onPick('custom', f, t);
            }}
          >
            <label>
              from <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
            </label>
            <label>
              to <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
            </label>
            <button type="submit">Apply</button>
          </form>
        )}
        <span className="muted">
          {formatTime(spec.from)} – {spec.rolling ? 'now' : formatTime(spec.to)}
        </span>
      </div>
      {(problem ?? spec.invalid) && (
        <p role="alert" style={{ color: 'var(--warn)', margin: '6px 0 0' }}>
          {problem ?? spec.invalid}
        </p>
      )}
    </div>
  );
}

const PALETTE = ['#4d7fd1', '#2da44e', '#e3a008', '#a347d1', '#d1242f', '#1b9aaa', '#bf5af2', '#8a6d3b'];

function colorOf(holder: string | null): string {
  let h = 0;
  for (const c of holder ?? '') h = (h * 31 + c.charCodeAt(0)) | 0;
  return PALETTE[Math.abs(h) % PALETTE.length]!;
}

function ending(h: HoldView): { text: string; tone: string } {
  if (h.current) return { text: 'held now', tone: 'ok' };
  switch (h.endReason) {
    case 'expired':
      return { text: 'lease expired', tone: 'bad' };
    case 'force_released':
      return { text: 'force-released', tone: 'bad' };
    case 'released':
      return { text: 'released', tone: 'muted' };
    default:
      return { text: h.endReason, tone: 'muted' };
  }
}

function HoldersTimeline({ data }: { data: LockHolds }) {
  const [all, setAll] = useState(false);
  const { from, to, holds } = data;
  if (holds.length === 0) return <p className="muted">No holds in this range.</p>;
  const span = to - from;
  const newest = [...holds].reverse();
  const rows = all ? newest : newest.slice(0, 50);
  return (
    <>
      <div className="timeline" role="list" aria-label="Who held the lock when">
        {holds.map((h, i) => {
          const start = Math.max(h.acquiredAt, from);
          const end = Math.min(h.endedAt ?? to, to);
          const label = `${visible(h.holder ?? 'unknown')}: ${formatTime(h.acquiredAt)}, ${formatMs(h.heldMs)}, ${ending(h).text}`;
          return (
            <span
              key={i}
              role="listitem"
              tabIndex={0}
              className="seg"
              title={label}
              aria-label={label}
              style={{
                left: `${((start - from) / span) * 100}%`,
                width: `${(Math.max(0, end - start) / span) * 100}%`,
                background: colorOf(h.holder),
                outline: h.endReason === 'expired' || h.endReason === 'force_released' ? '2px solid var(--bad)' : undefined,
              }}
            />
          );
        })}
      </div>
      <table className="data" data-testid="holds-table">
        <thead>
          <tr>
            <th scope="col">Holder</th>
            <th scope="col">Token</th>
            <th scope="col">Acquired</th>
            <th scope="col" className="num">
              Held
            </th>
            <th scope="col" className="num">
              TTL
            </th>
            <th scope="col" className="num">
              Max lease used
            </th>
            <th scope="col" className="num">
              Waited
            </th>
            <th scope="col">Ended</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((h, i) => {
            const e = ending(h);
            return (
              <tr key={i} className={h.nearExpiry ? 'near-expiry' : undefined}>
                <td>
                  <span aria-hidden style={{ display: 'inline-block', width: 8, height: 8, borderRadius: 4, background: colorOf(h.holder), marginRight: 6 }} />
                  <UntrustedText value={h.holder} max={32} />
                </td>
                <td className="mono">
                  <UntrustedText value={h.token} max={14} />
                </td>
                <td>{formatTime(h.acquiredAt)}</td>
                <td className="num">{formatMs(h.heldMs)}</td>
                <td className="num">{formatMs(h.ttlMs)}</td>
                <td className="num">
                  {formatPct(h.maxLeaseUsed)} {h.nearExpiry && <span className="badge warn">near expiry</span>}
                </td>
                <td className="num">{formatMs(h.waitMs)}</td>
                <td>
                  <span className={`badge ${e.tone}`}>{e.text}</span>
                  {h.approximate && <span className="muted" title="times reconstructed after a collector restart"> ≈</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {newest.length > rows.length && (
        <button type="button" className="link" onClick={() => setAll(true)}>
          Show all {newest.length} holds
        </button>
      )}
    </>
  );
}
