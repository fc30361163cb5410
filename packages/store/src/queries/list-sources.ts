import { lastHeard, sourceIsUp } from './overview.js';
import { ms, readStore, type QueryDb } from './query-db.js';

export interface SourceView {
  name: string;
  kind: string;
  up: boolean;
  connected: boolean;
  lastError: string | null;
  lastEventAt: number | null;
  lastSeenAt: number | null;
  ingestLagMs: number | null;
  lockCount: number;
  updatedAt: number;
}

export interface ListSourcesOptions {
  db: QueryDb;
  now?: number;
  sourceDownAfterMs?: number;
}

export async function listSources({ db, now = Date.now(), sourceDownAfterMs = 30_000 }: ListSourcesOptions): Promise<SourceView[]> {
  const rows = await readStore('sources', () => db.source.findMany({ orderBy: { name: 'asc' } }));
  return rows.map((s) => {
    const lastSeenAt = ms(s.lastSeenAt);
    const updatedAt = ms(s.updatedAt);
    return {
      name: s.name,
      kind: s.kind,
      up: sourceIsUp(s.connected, lastHeard(lastSeenAt, updatedAt), now, sourceDownAfterMs),
      connected: s.connected,
      lastError: s.lastError,
      lastEventAt: ms(s.lastEventAt),
      lastSeenAt,
      ingestLagMs: s.ingestLagMs,
      lockCount: s.lockCount,
      updatedAt,
    };
  });
}
