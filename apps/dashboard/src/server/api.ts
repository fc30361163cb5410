import { ALERT_RULES, LockscopeError, severityRank } from '@lockscope/core';
import {
  acknowledgeAlert,
  getAlertDetail,
  getLockDetail,
  getLockHolds,
  getLockMetrics,
  getOverview,
  listLocks,
  listSources,
  listHazards,
  queryAlerts,
  silenceAlertFor,
  createApiToken,
  listApiTokens,
  revokeApiToken,
  type Store,
} from '@lockscope/store';
import type { Actor, Gate } from './auth/request-guard';
import { apiRoute, lockscopeErrorOf } from './respond';
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
  auditQuery,
  hazardsQuery,
  createTokenBody,
  tokenIdParam,
} from './params';

export interface ApiContext {
  getStore(): Promise<Store>;
  /** alerts.sourceDownAfter from the config. */
  sourceDownAfterMs: number;
  /** Host, Origin, CSRF, identity and role checks (auth/request-guard.ts). */
  gate: Gate;
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
  const { gate } = ctx;

  /** Runs an action and writes its audit record, whether it worked or not. */
  async function audited<T>(actor: Actor, what: { action: string; target: string; source?: string; lockName?: string; reason?: string }, run: () => Promise<T>, describe: (result: T) => { source?: string; lockName?: string; detail?: string | null } = () => ({})): Promise<T> {
    const base = { actor: actor.name, role: actor.role, action: what.action, target: what.target, source: what.source ?? '', lockName: what.lockName ?? '', reason: what.reason ?? '' };
    let result: T;
    try {
      result = await run();
    } catch (error) {
      const known = lockscopeErrorOf(error);
      await gate.audit({ ...base, result: known ? known.code.toLowerCase() : 'failed', detail: known?.message ?? null }).catch(() => {});
      throw error;
    }
    // An action that happened but cannot be audited is reported as a failure: "who did what" must not be lost quietly.
    await gate.audit({ ...base, result: 'ok', ...describe(result) });
    return result;
  }

  return {
    overview: apiRoute('overview', async (request: Request) => {
      await gate.read(request);
      emptyQuery.parse(searchParamsOf(request));
      return getOverview({ db: await db(), now: now(), sourceDownAfterMs: ctx.sourceDownAfterMs });
    }),
    locks: apiRoute('locks', async (request: Request) => {
      await gate.read(request);
      const q = listLocksQuery.parse(searchParamsOf(request));
      return listLocks({ db: await db(), now: now(), ...q });
    }),
    lock: apiRoute('lock', async (request: Request, { params }: IdParams) => {
      await gate.read(request);
      const id = await idOf(params);
      emptyQuery.parse(searchParamsOf(request));
      return getLockDetail({ db: await db(), id, now: now() });
    }),
    metrics: apiRoute('metrics', async (request: Request, { params }: IdParams) => {
      await gate.read(request);
      const id = await idOf(params);
      const q = metricsQuery.parse(searchParamsOf(request));
      return getLockMetrics({ db: await db(), id, ...resolveRange(q, now()), step: q.step });
    }),
    holds: apiRoute('holds', async (request: Request, { params }: IdParams) => {
      await gate.read(request);
      const id = await idOf(params);
      const q = holdsQuery.parse(searchParamsOf(request));
      const t = now();
      return getLockHolds({ db: await db(), id, ...resolveRange(q, t), now: t, limit: q.limit });
    }),
    sources: apiRoute('sources', async (request: Request) => {
      await gate.read(request);
      emptyQuery.parse(searchParamsOf(request));
      return { sources: await listSources({ db: await db(), now: now(), sourceDownAfterMs: ctx.sourceDownAfterMs }) };
    }),
    alerts: apiRoute('alerts', async (request: Request) => {
      await gate.read(request);
      const q = listAlertsQuery.parse(searchParamsOf(request));
      // The rule names travel with the list so the page's filter needs no copy of them.
      return { alerts: await queryAlerts(await ctx.getStore(), q), rules: ALERT_RULES };
    }),
    alert: apiRoute('alert', async (request: Request, { params }: IdParams) => {
      await gate.read(request);
      const id = await alertIdOf(params);
      emptyQuery.parse(searchParamsOf(request));
      return getAlertDetail(await ctx.getStore(), id);
    }),
    ackAlert: apiRoute('alert-ack', async (request: Request, { params }: IdParams) => {
      const actor = await gate.act(request, 'operator');
      const id = await alertIdOf(params);
      emptyQuery.parse(searchParamsOf(request));
      const body = ackBody.parse(await jsonBodyOf(request));
      const store = await ctx.getStore();
      return audited(
        actor,
        { action: 'alert_ack', target: `alert ${id}` },
        () => acknowledgeAlert(store, { id, by: actor.name, at: now(), ...(body.silenceForMs !== undefined ? { silenceForMs: body.silenceForMs } : {}) }),
        (a) => ({ source: a.source, lockName: a.lockName ?? '', detail: body.silenceForMs !== undefined ? JSON.stringify({ silenceForMs: body.silenceForMs }) : null }),
      );
    }),
    silenceAlert: apiRoute('alert-silence', async (request: Request, { params }: IdParams) => {
      const actor = await gate.act(request, 'operator');
      const id = await alertIdOf(params);
      emptyQuery.parse(searchParamsOf(request));
      const body = silenceBody.parse(await jsonBodyOf(request));
      const store = await ctx.getStore();
      return audited(
        actor,
        { action: 'alert_silence', target: `alert ${id}` },
        () => silenceAlertFor(store, { id, forMs: body.forMs, at: now() }),
        (a) => ({ source: a.source, lockName: a.lockName ?? '', detail: JSON.stringify({ forMs: body.forMs }) }),
      );
    }),
    session: apiRoute('session', async (request: Request) => {
      emptyQuery.parse(searchParamsOf(request));
      return gate.session(request);
    }),
    tokens: apiRoute('tokens', async (request: Request) => {
      const actor = await gate.read(request);
      emptyQuery.parse(searchParamsOf(request));
      if (actor.role !== 'admin') throw new LockscopeError('FORBIDDEN', `${actor.name} has the ${actor.role} role; listing API tokens needs admin.`);
      return { tokens: await listApiTokens(await ctx.getStore()) };
    }),
    createToken: apiRoute('token-create', async (request: Request) => {
      const actor = await gate.act(request, 'admin');
      emptyQuery.parse(searchParamsOf(request));
      const body = createTokenBody(gate.settings.tokenMaxDays).parse(await jsonBodyOf(request));
      const store = await ctx.getStore();
      const at = now();
      // The secret is in this one response only; the audit record names the token, never its value.
      return audited(
        actor,
        { action: 'token_create', target: `token ${body.name}` },
        () => createApiToken(store, { name: body.name, role: body.role, createdBy: actor.name, expiresAt: at + body.expiresInDays * 86_400_000, at }),
        (created) => ({ detail: JSON.stringify({ id: created.token.id, role: created.token.role, expiresAt: created.token.expiresAt }) }),
      );
    }),
    revokeToken: apiRoute('token-revoke', async (request: Request, { params }: IdParams) => {
      const actor = await gate.act(request, 'admin');
      const id = tokenIdParam.parse((await params).id);
      emptyQuery.parse(searchParamsOf(request));
      const store = await ctx.getStore();
      return audited(actor, { action: 'token_revoke', target: `token ${id}` }, () => revokeApiToken(store, { id, by: actor.name, at: now() }), (t) => ({ detail: JSON.stringify({ name: t.name }) }));
    }),
    hazards: apiRoute('hazards', async (request: Request) => {
      await gate.read(request);
      const q = hazardsQuery.parse(searchParamsOf(request));
      // Open ones, and those that ended within the window (24 h by default); most severe first.
      const since = q.since ?? now() - 24 * 3_600_000;
      const hazards = await listHazards({ db: await db(), since, source: q.source });
      hazards.sort((a, b) => Number(a.until !== null) - Number(b.until !== null) || severityRank(b.severity) - severityRank(a.severity) || b.since - a.since);
      return { hazards, since };
    }),
    audit: apiRoute('audit', async (request: Request) => {
      await gate.read(request);
      const q = auditQuery.parse(searchParamsOf(request));
      const store = await ctx.getStore();
      return { records: await store.listAudit(q) };
    }),
  };
}

export type Api = ReturnType<typeof createApi>;
