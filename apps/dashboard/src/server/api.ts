import { getLockDetail, getLockHolds, getLockMetrics, getOverview, listLocks, listSources, type Store } from '@lockscope/store';
import { apiRoute } from './respond';
import { emptyQuery, holdsQuery, listLocksQuery, lockIdParam, metricsQuery, resolveRange, searchParamsOf } from './params';

export interface ApiContext {
  getStore(): Promise<Store>;
  /** alerts.sourceDownAfter from the config. */
  sourceDownAfterMs: number;
  now?: () => number;
}

type IdParams = { params: Promise<{ id: string }> };

/**
 * The /api/v1 handlers over one store. Route files bind them to the server's
 * runtime; tests bind them to a store of their own.
 */
export function createApi(ctx: ApiContext) {
  const now = ctx.now ?? Date.now;
  const db = async () => (await ctx.getStore()).prisma;
  const idOf = async (params: IdParams['params']) => lockIdParam.parse((await params).id);

  return {
    overview: apiRoute('overview', async (request: Request) => {
      emptyQuery.parse(searchParamsOf(request));
      return getOverview({ db: await db(), now: now(), sourceDownAfterMs: ctx.sourceDownAfterMs });
    }),
    locks: apiRoute('locks', async (request: Request) => {
      const q = listLocksQuery.parse(searchParamsOf(request));
      return listLocks({ db: await db(), now: now(), ...q });
    }),
    lock: apiRoute('lock', async (request: Request, { params }: IdParams) => {
      const id = await idOf(params);
      emptyQuery.parse(searchParamsOf(request));
      return getLockDetail({ db: await db(), id, now: now() });
    }),
    metrics: apiRoute('metrics', async (request: Request, { params }: IdParams) => {
      const id = await idOf(params);
      const q = metricsQuery.parse(searchParamsOf(request));
      return getLockMetrics({ db: await db(), id, ...resolveRange(q, now()), step: q.step });
    }),
    holds: apiRoute('holds', async (request: Request, { params }: IdParams) => {
      const id = await idOf(params);
      const q = holdsQuery.parse(searchParamsOf(request));
      const t = now();
      return getLockHolds({ db: await db(), id, ...resolveRange(q, t), now: t, limit: q.limit });
    }),
    sources: apiRoute('sources', async (request: Request) => {
      emptyQuery.parse(searchParamsOf(request));
      return { sources: await listSources({ db: await db(), now: now(), sourceDownAfterMs: ctx.sourceDownAfterMs }) };
    }),
  };
}

export type Api = ReturnType<typeof createApi>;
