'use client';

import type { StoredAudit } from '@lockscope/store';
import { useQuery } from '@tanstack/react-query';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useEffect, useState } from 'react';
import { fetchJson, query } from '../lib/api-client';
import { formatTime } from '../lib/format';
import { Empty, ErrorState, Loading } from './states';
import { UntrustedText } from './untrusted-text';
import { UpdatedAgo } from './updated-ago';

const FILTERS = [
  { key: 'actor', label: 'User' },
  { key: 'action', label: 'Action' },
  { key: 'lockName', label: 'Lock' },
] as const;

/** Who did what: releases, acks, silences, tokens, refusals and failed sign-ins, newest first. */
export function AuditView() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const applied = Object.fromEntries(FILTERS.map((f) => [f.key, params.get(f.key) ?? ''])) as Record<(typeof FILTERS)[number]['key'], string>;
  const [draft, setDraft] = useState(applied);
  const appliedKey = JSON.stringify(applied);
  useEffect(() => setDraft(JSON.parse(appliedKey) as typeof applied), [appliedKey]);

  const path = `/api/v1/audit${query({ ...applied, limit: 200 })}`;
  const audit = useQuery({ queryKey: ['audit', path], queryFn: ({ signal }) => fetchJson<{ records: StoredAudit[] }>(path, signal) });

  const apply = (values: Record<string, string>) => {
    const next = new URLSearchParams();
    for (const [k, v] of Object.entries(values)) if (v.trim() !== '') next.set(k, v.trim());
    const qs = next.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  };

  return (
    <>
      <h1>
        Audit <UpdatedAgo at={audit.dataUpdatedAt} fetching={audit.isFetching} failing={audit.isError} />
      </h1>
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        {FILTERS.map((f) => (
          <label key={f.key}>
            {f.label}
            <input name={f.key} value={draft[f.key]} maxLength={500} onChange={(e) => setDraft({ ...draft, [f.key]: e.target.value })} />
          </label>
        ))}
        <button type="submit">Filter</button>
      </form>
      {audit.isPending ? (
        <Loading what="audit records" />
      ) : audit.isError ? (
        <ErrorState error={audit.error} what="audit records" />
      ) : audit.data.records.length === 0 ? (
        <Empty>No audit records{Object.values(applied).some(Boolean) ? ' match these filters' : ' yet'}.</Empty>
      ) : (
        <table data-testid="audit-table">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Holder / token</th>
              <th scope="col">Reason</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {audit.data.records.map((r) => (
              <tr key={r.id} data-testid="audit-row">
                <td className="nowrap">{formatTime(r.at)}</td>
                <td>
                  <UntrustedText value={r.actor} max={40} />
                </td>
                <td>{r.role ?? <span className="muted">lockctl</span>}</td>
                <td>{r.action}</td>
                <td>
                  {r.lockName ? (
                    <>
                      <UntrustedText value={r.source} max={24} /> <UntrustedText value={r.lockName} max={60} />
                    </>
                  ) : (
                    <UntrustedText value={r.target} max={60} />
                  )}
                </td>
                <td>
                  <UntrustedText value={r.holder} max={32} /> <UntrustedText value={r.token} max={16} />
                </td>
                <td>
                  <UntrustedText value={r.reason || null} max={80} />
                </td>
                <td>{r.result}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
