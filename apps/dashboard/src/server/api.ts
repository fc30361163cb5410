import { ALERT_RULES } from '@lockscope/core';
import {
  acknowledgeAlert,
  getAlertDetail,
  getLockDetail,
  getLockHolds,
  getLockMetrics,
  getOverview,
  listLocks,
  listSources,
  queryAlerts,
  silenceAlertFor,
  type Store,
} from '@lockscope/store';
import { apiRoute } from './respond';
import {
  ackBody,
  alertIdParam,
  emptyQuery,
  holdsQuery,
  jsonBodyOf,
  listAlertsQuery,
  listLocksQuery,
  lockIdParam,
  metricsQuery,
  resolveRange,
  searchParamsOf,
  silenceBody,
} from './params';

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
  const alertIdOf = async (params: IdParams['params']) => alertIdParam.parse((await params).id);

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
    alerts: apiRoute('alerts', async (request: Request) => {
      const q = listAlertsQuery.parse(searchParamsOf(request));
      // The rule names travel with the list so the page's filter needs no copy of them.
      return { alerts: await queryAlerts(await ctx.getStore(), q), rules: ALERT_RULES };
    }),
    alert: apiRoute('alert', async (request: Request, { params }: IdParams) => {
      const id = await alertIdOf(params);
      emptyQuery.parse(searchParamsOf(request));
      return getAlertDetail(await ctx.getStore(), id);
    }),
    ackAlert: apiRoute('alert-ack', async (request: Request, { params }: IdParams) => {
      const id = await alertIdOf(params);
      emptyQuery.parse(searchParamsOf(request));
      const body = ackBody.parse(await jsonBodyOf(request));
      return acknowledgeAlert(await ctx.getStore(), { id, by: body.by, at: now(), ...(body.silenceForMs !== undefined ? { silenceForMs: body.silenceForMs } : {}) });
    }),
    silenceAlert: apiRoute('alert-silence', async (request: Request, { params }: IdParams) => {
      const id = await alertIdOf(params);
      emptyQuery.parse(searchParamsOf(request));
      const body = silenceBody.parse(await jsonBodyOf(request));
      return silenceAlertFor(await ctx.getStore(), { id, forMs: body.forMs, at: now() });
    }),
  };
}

export type Api = ReturnType<typeof createApi>;
