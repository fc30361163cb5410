'use client';

import type { Hazard } from '@lockscope/core';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { fetchJson } from '../lib/api-client';
import { formatMs, formatTime } from '../lib/format';
import { Empty, ErrorState, Loading } from './states';
import { UntrustedText } from './untrusted-text';
import { UpdatedAgo } from './updated-ago';

/** Where each kind is explained (docs/hazards.md in the repository, shipped with Lockscope). */
const DOCS = 'docs/hazards.md';

interface CycleStep {
  holder: string;
  holds: { lockId: string; name: string };
  waitsFor: { lockId: string; name: string };
}

/** The wait-for cycle of a deadlock: who holds what and waits for what, in order. */
function DeadlockCycle({ evidence }: { evidence: Record<string, unknown> }) {
  const cycle = Array.isArray(evidence.cycle) ? (evidence.cycle as CycleStep[]) : [];
  if (cycle.length === 0) return null;
  return (
    <ol className="cycle" data-testid="deadlock-cycle">
      {cycle.map((step, i) => (
        <li key={i}>
          <UntrustedText value={step.holder} max={40} /> holds{' '}
          <Link href={`/locks/${encodeURIComponent(step.holds.lockId)}`}>
            <UntrustedText value={step.holds.name} max={60} />
          </Link>{' '}
          and waits for{' '}
          <Link href={`/locks/${encodeURIComponent(step.waitsFor.lockId)}`}>
            <UntrustedText value={step.waitsFor.name} max={60} />
          </Link>
        </li>
      ))}
    </ol>
  );
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** An unsafe handover as a timeline: the lapsed hold, the gap, the next holder, and any sign of life. */
function HandoverTimeline({ hazard }: { hazard: Hazard }) {
  const e = hazard.evidence;
  const lapsedAt = num(e.lapsedAt);
  const acquiredAt = num(e.newAcquiredAt);
  const life = e.signsOfLife as { at?: number; resource?: string; token?: string; accepted?: boolean } | undefined;
  return (
    <ul className="handover-steps" data-testid="handover-timeline">
      <li>
        {formatTime(num(e.lapsedAcquiredAt))}: <UntrustedText value={hazard.holders[0] ?? null} max={40} /> acquired (token <UntrustedText value={String(e.lapsedToken ?? '-')} max={24} />)
      </li>
      <li>
        {formatTime(lapsedAt)}: its lease lapsed{num(e.ttlMs) !== null ? ` (TTL ${formatMs(num(e.ttlMs))})` : ''}, not released
      </li>
      <li>
        {formatTime(acquiredAt)}: <UntrustedText value={hazard.holders[1] ?? null} max={40} /> acquired (token <UntrustedText value={String(e.newToken ?? '-')} max={24} />),{' '}
        {formatMs(num(e.gapMs))} later
      </li>
      {life ? (
        <li>
          {formatTime(num(life.at))}: the first holder was alive: <UntrustedText value={life.resource ?? null} max={40} /> {life.accepted ? 'accepted' : 'refused'} its token{' '}
          <UntrustedText value={life.token ?? null} max={24} />
        </li>
      ) : null}
    </ul>
  );
}

/** Is our locking safe? The hazards the collector found, open ones first, most severe first. */
export function SafetyView() {
  const hazards = useQuery({
    queryKey: ['hazards'],
    queryFn: ({ signal }) => fetchJson<{ hazards: Hazard[]; since: number }>('/api/v1/hazards', signal),
    refetchInterval: 5_000,
  });
  return (
    <>
      <h1>
        Safety <UpdatedAgo at={hazards.dataUpdatedAt} fetching={hazards.isFetching} failing={hazards.isError} />
      </h1>
      <p className="muted">
        Hazards the collector found as they happened (open, or ended in the last 24 hours). Hygiene findings judged from each lock&apos;s history (no TTL, TTL too short,
        hot locks…) come from <code>lockctl doctor</code>. Each kind is explained, with how to fix it, in <code>{DOCS}</code>.
      </p>
      {hazards.isPending ? (
        <Loading what="hazards" />
      ) : hazards.isError ? (
        <ErrorState error={hazards.error} what="hazards" />
      ) : hazards.data.hazards.length === 0 ? (
        <Empty>No hazards found in the last 24 hours.</Empty>
      ) : (
        <table className="data" data-testid="hazard-table">
          <thead>
            <tr>
              <th scope="col">Severity</th>
              <th scope="col">Kind</th>
              <th scope="col">Lock</th>
              <th scope="col">Since</th>
              <th scope="col">State</th>
              <th scope="col">Holders / tokens</th>
              <th scope="col">What happened</th>
            </tr>
          </thead>
          <tbody>
            {hazards.data.hazards.map((h) => (
              <tr key={h.id} data-testid="hazard-row" data-kind={h.kind} data-severity={h.severity}>
                <td>
                  <span className={`badge severity-${h.severity}`}>{h.severity}</span>
                </td>
                <td>
                  <span title={`${DOCS}#${h.kind}`}>{h.kind}</span>
                </td>
                <td>
                  <UntrustedText value={h.source} max={24} />{' '}
                  {h.lockId ? (
                    <Link href={`/locks/${encodeURIComponent(h.lockId)}`}>
                      <UntrustedText value={h.lockName} max={60} />
                    </Link>
                  ) : (
                    <UntrustedText value={h.lockName} max={60} />
                  )}
                </td>
                <td className="nowrap">{formatTime(h.since)}</td>
                <td>{h.until === null ? 'open' : `ended ${formatTime(h.until)}`}</td>
                <td>
                  {h.holders.map((x, i) => (
                    <div key={`h${i}`}>
                      <UntrustedText value={x} max={40} />
                    </div>
                  ))}
                  {h.tokens.length > 0 ? (
                    <div className="muted">
                      tokens <UntrustedText value={h.tokens.join(', ')} max={60} />
                    </div>
                  ) : null}
                </td>
                <td className="wrap">
                  <UntrustedText value={h.detail} max={1_000} />
                  {h.kind === 'deadlock' ? <DeadlockCycle evidence={h.evidence} /> : null}
                  {h.kind === 'unsafe_handover' ? <HandoverTimeline hazard={h} /> : null}
                  <details>
                    <summary>evidence</summary>
                    <pre>
                      <UntrustedText value={JSON.stringify(h.evidence, null, 2)} max={5_000} />
                    </pre>
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
