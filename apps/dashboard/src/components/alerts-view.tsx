'use client';

import type { AlertDetail, AlertView, SourceView } from '@lockscope/store';
import { useMutation, useQuery, useQueryClient, type QueryKey } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { Fragment, useState } from 'react';
import { formatAlertValue, SILENCE_CHOICES } from '../lib/alert-format';
import { fetchJson, postJson, query } from '../lib/api-client';
import { formatMs, formatTime } from '../lib/format';
import { can, useSession } from '../lib/session';
import { Empty, ErrorState, Loading } from './states';
import { AlertMessage, UntrustedText } from './untrusted-text';
import { UpdatedAgo } from './updated-ago';

interface AlertList {
  alerts: AlertView[];
  rules: string[];
}

const OPEN_LIMIT = 500;
const RESOLVED_LIMIT = 50;
type Action = { kind: 'ack'; id: string } | { kind: 'silence'; id: string; forMs: number };

/** What the store will say after the action, applied to the cached lists at once. */
function applyAction(a: AlertView, action: Action, at: number, by: string): AlertView {
  if (a.id !== action.id) return a;
  return action.kind === 'ack' ? { ...a, ackedAt: at, ackedBy: by } : { ...a, silencedUntil: at + action.forMs };
}

export function AlertsView() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const rule = params.get('rule') ?? '';
  const source = params.get('source') ?? '';
  const lockId = params.get('lockId') ?? '';
  // The server names the acknowledger (the signed-in user or token); the page only shows the buttons a role may use.
  const session = useSession();
  const mayAct = can(session.data, 'operator');
  const csrf = session.data?.csrfToken ?? null;

  const setParams = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params.toString());
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    const qs = next.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  };

  const filters = { rule, source, lockId };
  const openPath = `/api/v1/alerts${query({ state: 'firing', ...filters, limit: OPEN_LIMIT })}`;
  const resolvedPath = `/api/v1/alerts${query({ state: 'resolved', ...filters, limit: RESOLVED_LIMIT })}`;
  const open = useQuery({ queryKey: ['alerts', openPath], queryFn: ({ signal }) => fetchJson<AlertList>(openPath, signal) });
  const resolved = useQuery({ queryKey: ['alerts', resolvedPath], queryFn: ({ signal }) => fetchJson<AlertList>(resolvedPath, signal) });
  const sources = useQuery({ queryKey: ['sources'], queryFn: ({ signal }) => fetchJson<{ sources: SourceView[] }>('/api/v1/sources', signal) });

  const client = useQueryClient();
  const action = useMutation({
    mutationFn: (a: Action) => (a.kind === 'ack' ? postJson<AlertView>(`/api/v1/alerts/${a.id}/ack`, {}, csrf) : postJson<AlertView>(`/api/v1/alerts/${a.id}/silence`, { forMs: a.forMs }, csrf)),
    onMutate: async (a) => {
      await client.cancelQueries({ queryKey: ['alerts'] });
      const before = client.getQueriesData<AlertList>({ queryKey: ['alerts'] });
      const at = Date.now();
      client.setQueriesData<AlertList>({ queryKey: ['alerts'] }, (list) => (list ? { ...list, alerts: list.alerts.map((x) => applyAction(x, a, at, session.data?.user?.name ?? '')) } : list));
      return { before };
    },
    onError: (_error, _a, context) => {
      for (const [key, data] of (context?.before ?? []) as [QueryKey, AlertList | undefined][]) client.setQueryData(key, data);
    },
    onSuccess: (saved) => {
      // The server's times replace the browser's guess.
      client.setQueriesData<AlertList>({ queryKey: ['alerts'] }, (list) => (list ? { ...list, alerts: list.alerts.map((x) => (x.id === saved.id ? saved : x)) } : list));
    },
    onSettled: () => client.invalidateQueries({ queryKey: ['alerts'] }),
  });

  const rules = open.data?.rules ?? resolved.data?.rules ?? [];
  const filtered = Boolean(rule || source || lockId);
  const act = (a: Action) => action.mutate(a);

  return (
    <>
      <h1>
        Alerts <UpdatedAgo at={open.dataUpdatedAt} fetching={open.isFetching} failing={open.isError || resolved.isError} />
      </h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Rule
          <select value={rule} onChange={(e) => setParams({ rule: e.target.value })}>
            <option value="">all rules</option>
            {rules.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
            {rule && !rules.includes(rule) && <option value={rule}>{rule}</option>}
          </select>
        </label>
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
        {lockId && (
          <span className="badge muted" data-testid="lock-filter">
            one lock only{' '}
            <button type="button" className="link" aria-label="Show alerts of every lock" onClick={() => setParams({ lockId: null })}>
              ×
            </button>
          </span>
        )}
        {filtered && (
          <button type="button" onClick={() => setParams({ rule: null, source: null, lockId: null })}>
            Clear filters
          </button>
        )}
      </form>
      {action.isError && (
        <div className="state error" role="alert" data-testid="action-error">
          Could not {action.variables?.kind === 'ack' ? 'acknowledge' : 'silence'} the alert: {action.error instanceof Error ? action.error.message : String(action.error)}
        </div>
      )}

      <section aria-labelledby="open-h">
        <h2 id="open-h">Open{open.data ? ` (${open.data.alerts.length})` : ''}</h2>
        {open.isError && !open.data ? (
          <ErrorState error={open.error} what="open alerts" />
        ) : !open.data ? (
          <Loading what="open alerts" />
        ) : open.data.alerts.length === 0 ? (
          <Empty>{filtered ? 'No open alert matches these filters.' : 'No open alerts.'}</Empty>
        ) : (
          <AlertTable testId="open-alerts" alerts={open.data.alerts} actions={{ busy: action.isPending ? action.variables?.id : undefined, act, mayAct }} />
        )}
      </section>
      <section aria-labelledby="resolved-h">
        <h2 id="resolved-h">Recently resolved</h2>
        {resolved.isError && !resolved.data ? (
          open.isError ? (
            <p className="muted">Resolved alerts are unavailable for the same reason.</p>
          ) : (
            <ErrorState error={resolved.error} what="resolved alerts" />
          )
        ) : !resolved.data ? (
          <Loading what="resolved alerts" />
        ) : resolved.data.alerts.length === 0 ? (
          <Empty>{filtered ? 'No resolved alert matches these filters.' : 'No resolved alerts yet.'}</Empty>
        ) : (
          <AlertTable testId="resolved-alerts" alerts={resolved.data.alerts} />
        )}
      </section>
    </>
  );
}

interface Actions {
  /** False for viewers and a read-only dashboard: the buttons are not shown. */
  mayAct: boolean;
  busy: string | undefined;
  act(a: Action): void;
}

function AlertTable({ alerts, actions, testId }: { alerts: AlertView[]; actions?: Actions; testId: string }) {
  return (
    <div style={{ overflowX: 'auto' }}>
      <table className="data" data-testid={testId}>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Lock or source</th>
            <th scope="col">Started</th>
            <th scope="col">{actions ? 'Open for' : 'Resolved'}</th>
            <th scope="col" className="num">
              Value / threshold
            </th>
            <th scope="col">Message</th>
            <th scope="col">Acknowledged</th>
            <th scope="col">Silenced until</th>
            {actions && <th scope="col">Actions</th>}
            <th scope="col">Webhooks</th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((a) => (
            <AlertRow key={a.id} alert={a} actions={actions} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AlertRow({ alert: a, actions }: { alert: AlertView; actions: Actions | undefined }) {
  const [silenceMs, setSilenceMs] = useState(SILENCE_CHOICES[1]!.ms);
  const [showLog, setShowLog] = useState(false);
  const now = Date.now();
  const silenced = a.silencedUntil !== null && a.silencedUntil > now;
  const busy = actions?.busy === a.id;
  const columns = actions ? 10 : 9;
  return (
    <Fragment>
      <tr data-alert-id={a.id} data-state={a.state} data-rule={a.rule}>
        <td className="nowrap">
          <span className={`badge ${a.state === 'firing' ? 'bad' : 'muted'}`}>{a.rule}</span>
        </td>
        <td>
          {a.lockId ? (
            <Link href={`/locks/${encodeURIComponent(a.lockId)}`} className="lock-link">
              <UntrustedText value={a.lockName ?? a.lockId} max={60} />
            </Link>
          ) : (
            <span className="muted">source</span>
          )}{' '}
          <span className="muted" style={{ fontSize: 12 }}>
            <UntrustedText value={a.source} max={24} />
          </span>
        </td>
        <td className="nowrap">{formatTime(a.startedAt)}</td>
        <td className="nowrap">{a.resolvedAt === null ? formatMs(Math.max(0, now - a.startedAt)) : formatTime(a.resolvedAt)}</td>
        <td className="num nowrap">{formatAlertValue(a)}</td>
        <td>
          <AlertMessage text={a.message} />
        </td>
        <td data-testid="acked">
          {a.ackedAt === null ? (
            <span className="muted">no</span>
          ) : (
            <>
              <UntrustedText value={a.ackedBy} max={24} /> <span className="muted">{formatTime(a.ackedAt)}</span>
            </>
          )}
        </td>
        <td className="nowrap" data-testid="silenced">
          {silenced ? formatTime(a.silencedUntil) : <span className="muted">—</span>}
        </td>
        {actions && (
          <td className="nowrap">
            {!actions.mayAct ? (
              <span className="muted">operators only</span>
            ) : (
              <div className="row" style={{ flexWrap: 'nowrap', gap: 6 }}>
                <button type="button" disabled={busy} onClick={() => actions.act({ kind: 'ack', id: a.id })}>
                  {a.ackedAt === null ? 'Acknowledge' : 'Re-acknowledge'}
                </button>
                <select aria-label="Silence for" value={silenceMs} onChange={(e) => setSilenceMs(Number(e.target.value))}>
                  {SILENCE_CHOICES.map((c) => (
                    <option key={c.ms} value={c.ms}>
                      {c.label}
                    </option>
                  ))}
                </select>
                <button type="button" disabled={busy} onClick={() => actions.act({ kind: 'silence', id: a.id, forMs: silenceMs })}>
                  Silence
                </button>
              </div>
            )}
          </td>
        )}
        <td>
          <button type="button" className="link" aria-expanded={showLog} onClick={() => setShowLog((o) => !o)}>
            {showLog ? 'hide log' : 'deliveries'}
          </button>
        </td>
      </tr>
      {showLog && (
        <tr>
          <td colSpan={columns}>
            <DeliveryLog id={a.id} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** Webhook attempts of one alert, fetched when opened. */
function DeliveryLog({ id }: { id: string }) {
  const q = useQuery({ queryKey: ['alert', id], queryFn: ({ signal }) => fetchJson<AlertDetail>(`/api/v1/alerts/${encodeURIComponent(id)}`, signal) });
  if (q.isError && !q.data) return <ErrorState error={q.error} what="the delivery log" />;
  if (!q.data) return <Loading what="delivery log" />;
  if (q.data.deliveries.length === 0) return <p className="muted">No webhook delivery recorded for this alert.</p>;
  return (
    <table className="data" data-testid="delivery-log">
      <thead>
        <tr>
          <th scope="col">At</th>
          <th scope="col">Webhook</th>
          <th scope="col">Kind</th>
          <th scope="col" className="num">
            Attempt
          </th>
          <th scope="col">Result</th>
        </tr>
      </thead>
      <tbody>
        {q.data.deliveries.map((d) => (
          <tr key={d.id}>
            <td className="nowrap">{formatTime(d.at)}</td>
            <td>
              <UntrustedText value={d.webhook} max={40} />
            </td>
            <td>{d.kind}</td>
            <td className="num">{d.attempt}</td>
            <td>
              <span className={`badge ${d.ok ? 'ok' : 'bad'}`}>{d.ok ? 'delivered' : 'failed'}</span> {d.status !== null && <span className="muted">HTTP {d.status}</span>} {d.error !== null && <UntrustedText value={d.error} max={120} />}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
