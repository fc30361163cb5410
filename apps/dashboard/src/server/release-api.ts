import { LockscopeError } from '@lockscope/core';
import { forceRelease, type LockSource } from '@lockscope/sources';
import { getLockDetail, type Store } from '@lockscope/store';
import { z } from 'zod';
import type { Gate } from './auth/request-guard';
import { emptyQuery, jsonBodyOf, lockIdParam, searchParamsOf } from './params';
import { apiRoute } from './respond';

export const releaseBody = z.strictObject({
  reason: z.string({ error: 'say why (a string)' }).trim().min(3, 'say why, in a few words: it goes into the audit record').max(500, 'at most 500 characters'),
  /** What the page showed; the release is refused if the lock has moved on since. */
  expectHolder: z.string().max(10_000),
  expectToken: z.string().max(200).nullable(),
});

export interface ReleaseApiContext {
  getStore(): Promise<Store>;
  gate: Gate;
  /** A fresh adapter for the configured source of this name (stopped after use), or null if none. */
  openSource(name: string): LockSource | null;
}

/**
 * POST /api/v1/locks/{id}/release: an operator's force-release through the same
 * forceRelease flow as `lockctl release`, recorded as the same `force_release`
 * audit action. The old holder is not told (the page says so before asking).
 */
export function createReleaseApi(ctx: ReleaseApiContext) {
  return {
    releaseLock: apiRoute('lock-release', async (request: Request, { params }: { params: Promise<{ id: string }> }) => {
      const actor = await ctx.gate.act(request, 'operator');
      const id = lockIdParam.parse((await params).id);
      emptyQuery.parse(searchParamsOf(request));
      const body = releaseBody.parse(await jsonBodyOf(request));
      const store = await ctx.getStore();
      const lock = await getLockDetail({ db: store.prisma, id });
      const source = ctx.openSource(lock.source);
      if (!source) throw new LockscopeError('NOT_FOUND', `The source ${lock.source} is not configured in this dashboard's lockscope.yaml, so it cannot release there. Use \`lockctl release\` where the source is configured.`);
      try {
        const { lock: observed, result } = await forceRelease(source, {
          name: lock.name,
          expectHolder: body.expectHolder,
          expectToken: body.expectToken,
          audit: async (seen, outcome, detail) => {
            await ctx.gate.audit({
              actor: actor.name,
              role: actor.role,
              action: 'force_release',
              source: lock.source,
              lockName: lock.name,
              holder: seen.hold?.holder ?? null,
              token: seen.hold?.token ?? null,
              reason: body.reason,
              result: outcome,
              target: `lock ${id}`,
              detail: JSON.stringify({ holdId: seen.hold?.holdId ?? null, dialect: seen.dialect, via: actor.via, ...detail }),
            });
          },
        });
        return { released: true, source: lock.source, name: lock.name, holder: observed.hold?.holder ?? null, token: observed.hold?.token ?? null, actions: result.actions };
      } finally {
        await source.stop().catch(() => {});
      }
    }),
  };
}
