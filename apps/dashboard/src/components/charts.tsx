'use client';

import type { HoldView, LockMetrics } from '@lockscope/store';
import {
  Bar,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Scatter,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { formatClock, formatMs, formatPct, formatTime } from '../lib/format';

const SLOW_MS = 50;
const HEIGHT = 260;

const axisTime = (from: number, to: number) => {
  const long = to - from > 36 * 60 * 60_000;
  return (t: number) => {
    const d = new Date(t);
    return long ? `${d.getMonth() + 1}/${d.getDate()} ${d.getHours()}:${String(d.getMinutes()).padStart(2, '0')}` : formatClock(t).slice(0, 5);
  };
};

/** Where an alert started, drawn as a vertical line on the lock's charts. */
export interface AlertMarker {
  id: string;
  rule: string;
  startedAt: number;
  /** Resolved alerts are drawn dashed, open ones solid. */
  open: boolean;
}

function countIn(markers: AlertMarker[] | undefined, from: number, to: number): number {
  return (markers ?? []).filter((m) => m.startedAt >= from && m.startedAt <= to).length;
}

function alertMarkers(markers: AlertMarker[] | undefined, from: number, to: number) {
  return (markers ?? [])
    .filter((m) => m.startedAt >= from && m.startedAt <= to)
    .map((m) => (
      <ReferenceLine
        key={`alert-${m.id}`}
        x={m.startedAt}
        className={`alert-marker ${m.open ? 'alert-open' : 'alert-resolved'}`}
        stroke="var(--bad)"
        strokeWidth={1.5}
        strokeDasharray={m.open ? undefined : '2 3'}
        label={{ value: `⚠ ${m.rule}`, fill: 'var(--bad)', position: 'insideTopLeft', fontSize: 11 }}
      />
    ));
}

const tooltipStyle = { background: 'var(--panel)', border: '1px solid var(--border)', color: 'var(--text)' };

export function NotObservable({ what, dialect }: { what: string; dialect: string }) {
  return (
    <div className="not-observable" data-testid="not-observable">
      {what} is not observable for this dialect ({dialect}): it leaves no trace of waiters. Instrumented clients can report it; nothing is drawn rather than zeros.
    </div>
  );
}

/** What a chart with nothing to draw in the range says instead of an empty grid. */
export function EmptyChart({ what, why, from, to }: { what: string; why: string; from: number; to: number }) {
  return (
    <div className="chart-empty" data-testid="chart-empty" style={{ minHeight: HEIGHT / 2 }}>
      <strong>No {what} between {formatTime(from)} and {formatTime(to)}.</strong> {why}
    </div>
  );
}

export function LatencyChart({ metrics, alerts }: { metrics: LockMetrics; alerts?: AlertMarker[] }) {
  if (!metrics.waitersObservable) return <NotObservable what="Acquisition latency" dialect={metrics.dialect} />;
  const data = metrics.points.map((p) => ({ t: p.t, p50: p.acquisition?.p50 ?? null, p95: p.acquisition?.p95 ?? null, p99: p.acquisition?.p99 ?? null }));
  const max = Math.max(SLOW_MS * 1.2, ...data.map((d) => d.p99 ?? 0)) * 1.1;
  const any = data.some((d) => d.p95 !== null);
  if (!any) {
    return (
      <div data-testid="latency-chart" data-alert-markers={countIn(alerts, metrics.from, metrics.to)}>
        <EmptyChart what="acquisition latency" from={metrics.from} to={metrics.to} why="Latency is measured on acquisitions that had to wait, and none did in this range (or the lock was not acquired). Pick a longer range to see earlier ones." />
      </div>
    );
  }
  return (
    <div data-testid="latency-chart" data-alert-markers={countIn(alerts, metrics.from, metrics.to)}>
      <ResponsiveContainer width="100%" height={HEIGHT}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="t" type="number" domain={[metrics.from, metrics.to]} tickFormatter={axisTime(metrics.from, metrics.to)} stroke="var(--muted)" />
          <YAxis domain={[0, Math.ceil(max)]} tickFormatter={(v: number) => formatMs(v)} stroke="var(--muted)" width={80} />
          <Tooltip contentStyle={tooltipStyle} labelFormatter={(t) => formatClock(Number(t))} formatter={(v) => formatMs(typeof v === 'number' ? v : null)} />
          <Legend />
          <ReferenceLine y={SLOW_MS} className="slow-line" stroke="var(--bad)" strokeDasharray="6 3" label={{ value: formatMs(SLOW_MS), fill: 'var(--bad)', position: 'insideTopRight' }} />
          {alertMarkers(alerts, metrics.from, metrics.to)}
          <Line type="monotone" dataKey="p50" name="P50" stroke="#4ac26b" dot={false} connectNulls={false} isAnimationActive={false} />
          <Line type="monotone" dataKey="p95" name="P95" stroke="#e3a008" dot={false} connectNulls={false} isAnimationActive={false} />
          <Line type="monotone" dataKey="p99" name="P99" stroke="#d1242f" dot={false} connectNulls={false} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

type HoldPoint = { t: number; heldMs: number; ttlMs: number | null; holder: string; how: string };

const HOLD_GROUPS = [
  { key: 'ok', name: 'released', fill: 'var(--bar)', shape: 'circle' },
  { key: 'near', name: 'released, crossed 0.8 × TTL', fill: 'var(--warn)', shape: 'circle' },
  { key: 'expired', name: 'expired', fill: 'var(--bad)', shape: 'cross' },
  { key: 'force', name: 'force-released', fill: '#a347d1', shape: 'diamond' },
  { key: 'current', name: 'held now', fill: 'var(--ok)', shape: 'star' },
] as const;

function groupOf(h: HoldView): (typeof HOLD_GROUPS)[number]['key'] {
  if (h.current) return 'current';
  if (h.endReason === 'expired') return 'expired';
  if (h.endReason === 'force_released') return 'force';
  return h.nearExpiry ? 'near' : 'ok';
}

/**
 * Each hold in range at its acquisition time, its hold time against the TTL
 * and 0.8 × TTL lines. A renewing lock may rightly hold past its TTL.
 */
export function HoldTtlChart({ holds, from, to, nearExpiryRatio = 0.8, alerts }: { holds: HoldView[]; from: number; to: number; nearExpiryRatio?: number; alerts?: AlertMarker[] }) {
  if (holds.length === 0) {
    return <EmptyChart what="holds" from={from} to={to} why="Nobody held this lock in this range. Pick a longer range to see earlier holds." />;
  }
  const byGroup = new Map<string, HoldPoint[]>();
  for (const h of holds) {
    const g = groupOf(h);
    const list = byGroup.get(g) ?? [];
    list.push({ t: Math.max(h.acquiredAt, from), heldMs: h.heldMs, ttlMs: h.ttlMs, holder: h.holder ?? '', how: h.current ? 'held now' : h.endReason });
    byGroup.set(g, list);
  }
  const ttls = [...new Set(holds.map((h) => h.ttlMs).filter((t): t is number => t !== null))];
  const singleTtl = ttls.length === 1 ? ttls[0]! : null;
  const maxY = Math.max(...holds.map((h) => h.heldMs), ...ttls) * 1.15 || 1;
  const ttlSeries = holds
    .filter((h) => h.ttlMs !== null)
    .map((h) => ({ t: Math.max(h.acquiredAt, from), ttl: h.ttlMs, ttl80: h.ttlMs! * nearExpiryRatio }))
    .sort((a, b) => a.t - b.t);
  return (
    <div data-testid="hold-ttl-chart" data-holds={holds.length} data-ttl={singleTtl ?? ''} data-alert-markers={countIn(alerts, from, to)}>
      <ResponsiveContainer width="100%" height={HEIGHT}>
        <ComposedChart margin={{ top: 8, right: 16, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="t" type="number" domain={[from, to]} tickFormatter={axisTime(from, to)} stroke="var(--muted)" allowDuplicatedCategory={false} />
          <YAxis dataKey="heldMs" type="number" domain={[0, Math.ceil(maxY)]} tickFormatter={(v: number) => formatMs(v)} stroke="var(--muted)" width={72} />
          <Tooltip
            contentStyle={tooltipStyle}
            cursor={{ strokeDasharray: '3 3' }}
            labelFormatter={(t) => formatClock(Number(t))}
            formatter={(v, key) => (key === 't' ? formatClock(Number(v)) : formatMs(typeof v === 'number' ? v : null))}
          />
          <Legend />
          {singleTtl !== null ? (
            <>
              <ReferenceLine y={singleTtl} className="ttl-line" stroke="var(--bad)" strokeDasharray="6 3" label={{ value: `TTL ${formatMs(singleTtl)}`, fill: 'var(--bad)', position: 'insideTopRight' }} />
              <ReferenceLine
                y={singleTtl * nearExpiryRatio}
                className="ttl80-line"
                stroke="var(--warn)"
                strokeDasharray="3 3"
                label={{ value: `${nearExpiryRatio} × TTL`, fill: 'var(--warn)', position: 'insideBottomRight' }}
              />
            </>
          ) : (
            <>
              <Line data={ttlSeries} dataKey="ttl" name="TTL" className="ttl-line" type="stepAfter" stroke="var(--bad)" strokeDasharray="6 3" dot={false} isAnimationActive={false} />
              <Line data={ttlSeries} dataKey="ttl80" name={`${nearExpiryRatio} × TTL`} className="ttl80-line" type="stepAfter" stroke="var(--warn)" strokeDasharray="3 3" dot={false} isAnimationActive={false} />
            </>
          )}
          {alertMarkers(alerts, from, to)}
          {HOLD_GROUPS.filter((g) => byGroup.has(g.key)).map((g) => (
            <Scatter key={g.key} name={g.name} data={byGroup.get(g.key)} dataKey="heldMs" fill={g.fill} shape={g.shape} className={`holds-${g.key}`} isAnimationActive={false} />
          ))}
        </ComposedChart>
      </ResponsiveContainer>
    </div>
  );
}

export function ContentionChart({ metrics }: { metrics: LockMetrics }) {
  if (!metrics.waitersObservable) return <NotObservable what="Contention (waiters)" dialect={metrics.dialect} />;
  const data = metrics.points.map((p) => ({
    t: p.t,
    max: p.waitersMax,
    mean: p.waitersMean === null ? null : Math.round(p.waitersMean * 100) / 100,
    waited: p.waitedShare === null ? null : Math.round(p.waitedShare * 1000) / 10,
  }));
  const { totals } = metrics;
  if (totals.acquisitions === 0 && data.every((d) => d.max === null || d.max === 0)) {
    return (
      <div data-testid="contention-chart">
        <EmptyChart what="acquisitions or waiters" from={metrics.from} to={metrics.to} why="Nobody acquired or queued for this lock in this range. Pick a longer range to see earlier contention." />
      </div>
    );
  }
  return (
    <div data-testid="contention-chart">
      <p className="muted" style={{ margin: '0 0 6px' }}>
        {totals.acquisitions} acquisitions in range, {formatPct(totals.waitedShare)} had to wait; most waiters at once: {totals.waitersMax ?? '—'}
      </p>
      <ResponsiveContainer width="100%" height={HEIGHT}>
        <ComposedChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="t" type="number" domain={[metrics.from, metrics.to]} tickFormatter={axisTime(metrics.from, metrics.to)} stroke="var(--muted)" />
          <YAxis yAxisId="w" allowDecimals={false} stroke="var(--muted)" width={40} />
          <YAxis yAxisId="s" orientation="right" domain={[0, 100]} tickFormatter={(v: number) => `${v}%`} stroke="var(--muted)" width={48} />
          <Tooltip contentStyle={tooltipStyle} labelFormatter={(t) => formatClock(Number(t))} />
          <Legend />
          <Bar yAxisId="w" dataKey="max" name="waiters (max)" fill="var(--bar)" isAnimationActive={false} />
          <Line yAxisId="w" dataKey="mean" name="waiters (mean)" stroke="#e3a008" dot={false} connectNulls={false} isAnimationActive={false} />
          <Line yAxisId="s" dataKey="waited" name="acquisitions that waited (%)" stroke="#a347d1" dot={false} connectNulls={false} isAnimationActive={false} />
        </ComposedChart>
      </ResponsiveContainer>
    </div>
  );
}
