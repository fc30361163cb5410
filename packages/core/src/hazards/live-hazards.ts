import { z } from 'zod';
import type { ApplyResult } from '../hold-tracker.js';
import type { Dialect, WaiterObservation } from '../observation.js';
import type { Hazard, HazardLockRef } from './hazard.js';

/** What a protected resource reports about a fencing token it checked. */
export interface FencingReport {
  token: string;
  /** What the token protected (a table, a bucket, a job name), for the evidence. */
  resource: string;
  accepted: boolean;
  /** Who checked (the reporting service), optional. */
  reporter?: string | null;
}

export type FencingVerdict = 'current' | 'stale_accepted' | 'stale_refused' | 'not_comparable';

export interface HazardChange {
  action: 'open' | 'update' | 'resolve';
  hazard: Hazard;
}

/** How long a point-in-time hazard (a stale token) stays open, so that its page can be seen and acked. */
const POINT_HAZARD_OPEN_MS = 5 * 60_000;

/**
 * Dialects whose holder string is a process identity (a session), so that one holder
 * holding one lock and waiting for another can be told: etcd recipes (the session's lease),
 * Redisson (`<client uuid>:<thread id>`).
 */
function identityDialect(dialect: Dialect): boolean {
  return dialect === 'etcd-mutex' || dialect === 'etcd-lease-key' || dialect === 'redisson' || dialect === 'redisson-fair';
}

interface Lapse {
  holder: string;
  token: string | null;
  acquiredAt: number;
  endedAt: number;
  ttlMs: number | null;
}

interface Handover {
  hazard: Hazard;
  oldToken: string | null;
}

/**
 * How long after a handover's overlap ended the old holder's signs of life still count: a
 * holder stalled past its lease often wakes after the next holder is done, and its stale
 * write then is the proof that it was alive.
 */
const SIGNS_OF_LIFE_WINDOW_MS = 10 * 60_000;

/**
 * Hazards found as they happen, from the hold trackers' results and fencing reports:
 * unsafe handovers, fencing tokens going backwards, stale tokens used, deadlocks.
 * Pure: no I/O, no clock (every time comes from the caller), so it replays in tests.
 */
export class LiveHazards {
  private readonly lapses = new Map<string, Lapse>();
  private readonly handovers = new Map<string, Handover>();
  /** Highest fencing token granted per lock (numeric tokens only). */
  private readonly newestToken = new Map<string, bigint>();
  private readonly regressions = new Map<string, Hazard>();
  /** Wait-for graph, over locks whose holders are identities: who holds each, who waits for it. */
  private readonly lockHolder = new Map<string, { identity: string; ref: HazardLockRef }>();
  private readonly lockWaiters = new Map<string, { ref: HazardLockRef; ids: string[] }>();
  private readonly deadlocks = new Map<string, Hazard>();
  /** Point hazards (stale tokens) and when they close. */
  private readonly closing = new Map<string, { hazard: Hazard; at: number }>();

  /** Everything open now. */
  open(): Hazard[] {
    return [
      ...[...this.handovers.values()].filter((h) => h.hazard.until === null).map((h) => h.hazard),
      ...this.regressions.values(),
      ...this.deadlocks.values(),
      ...[...this.closing.values()].map((c) => c.hazard),
    ];
  }

  /** One LockTracker result, with the lock's holder and waiters after it. */
  onResult(
    lock: HazardLockRef,
    dialect: Dialect,
    result: Pick<ApplyResult, 'events' | 'completed'>,
    holder: string | null,
    waiters: readonly WaiterObservation[] | null,
  ): HazardChange[] {
    const out: HazardChange[] = [];
    const completed = result.completed;
    if (completed) {
      const handover = this.handovers.get(lock.lockId);
      // The hold that took over after a lapse has ended: the overlap is over (the record stays
      // a while for the old holder's signs of life).
      if (handover && handover.hazard.until === null && handover.hazard.holders[1] === completed.holder) {
        const ended = resolve(handover.hazard, completed.endedAt);
        handover.hazard = ended.hazard;
        out.push(ended);
      }
      if (completed.endReason === 'expired' && completed.holder !== null) {
        this.lapses.set(lock.lockId, { holder: completed.holder, token: completed.token, acquiredAt: completed.acquiredAt, endedAt: completed.endedAt, ttlMs: completed.ttlMs });
      } else {
        this.lapses.delete(lock.lockId);
      }
    }
    for (const event of result.events) {
      if (event.type !== 'acquired') continue;
      const lapse = this.lapses.get(lock.lockId);
      if (lapse && event.holder !== lapse.holder) {
        this.lapses.delete(lock.lockId);
        const gap = Math.max(0, event.at - lapse.endedAt);
        const hazard: Hazard = {
          id: `unsafe_handover|${lock.lockId}|${event.at}`,
          kind: 'unsafe_handover',
          severity: 'warning',
          source: lock.source,
          lockId: lock.lockId,
          lockName: lock.name,
          since: event.at,
          until: null,
          holders: [lapse.holder, event.holder ?? '(unknown)'],
          tokens: [lapse.token, event.token].filter((t): t is string => t !== null),
          detail: `The lease lapsed under ${lapse.holder}, which had not released it, and ${event.holder ?? 'another holder'} acquired the lock ${gap} ms later: if the first holder was stalled rather than dead, both may be running the critical section.`,
          evidence: {
            lapsedHolder: lapse.holder,
            lapsedToken: lapse.token,
            lapsedAcquiredAt: lapse.acquiredAt,
            lapsedAt: lapse.endedAt,
            ttlMs: lapse.ttlMs,
            newHolder: event.holder,
            newToken: event.token,
            newAcquiredAt: event.at,
            gapMs: gap,
          },
        };
        this.handovers.set(lock.lockId, { hazard, oldToken: lapse.token });
        out.push({ action: 'open', hazard });
      }
      out.push(...this.noteToken(lock, event.token, event.at, event.holder));
    }
    if (identityDialect(dialect)) out.push(...this.updateGraph(lock, holder, waiters, result.events.at(-1)?.at ?? null));
    return out;
  }

  /** A fencing report: judged against the newest token granted for the lock at this moment. */
  onFencingReport(lock: HazardLockRef, report: FencingReport, at: number): { verdict: FencingVerdict; newestToken: string | null; changes: HazardChange[] } {
    const newest = this.newestToken.get(lock.lockId) ?? null;
    const token = numeric(report.token);
    const changes: HazardChange[] = [];
    let handover = this.handovers.get(lock.lockId);
    if (handover && handover.hazard.until !== null && at - handover.hazard.until > SIGNS_OF_LIFE_WINDOW_MS) {
      this.handovers.delete(lock.lockId);
      handover = undefined;
    }
    if (handover && handover.oldToken !== null && handover.oldToken === report.token && handover.hazard.severity !== 'critical') {
      // The holder the lease lapsed under is alive and acting on its old token: it was stalled, not dead.
      handover.hazard = {
        ...handover.hazard,
        severity: 'critical',
        detail: `${handover.hazard.detail} The first holder was alive afterwards: ${report.resource} saw its token ${report.token} at ${new Date(at).toISOString()}.`,
        evidence: { ...handover.hazard.evidence, signsOfLife: { at, resource: report.resource, token: report.token, accepted: report.accepted } },
      };
      changes.push({ action: 'update', hazard: handover.hazard });
    }
    if (newest === null || token === null) return { verdict: 'not_comparable', newestToken: newest?.toString() ?? null, changes };
    if (token >= newest) return { verdict: 'current', newestToken: newest.toString(), changes };
    const kind = report.accepted ? 'stale_token_accepted' : 'stale_token_refused';
    const hazard: Hazard = {
      id: `${kind}|${lock.lockId}|${at}|${report.token}`,
      kind,
      severity: report.accepted ? 'critical' : 'info',
      source: lock.source,
      lockId: lock.lockId,
      lockName: lock.name,
      since: at,
      until: report.accepted ? null : at,
      holders: handover && handover.oldToken === report.token ? [...handover.hazard.holders] : [],
      tokens: [report.token, newest.toString()],
      detail: report.accepted
        ? `${report.resource} accepted fencing token ${report.token} while ${newest} had already been granted: two holders acted on it (a proven overlap).`
        : `${report.resource} refused fencing token ${report.token} because ${newest} had already been granted: fencing stopped a stale holder.`,
      evidence: { resource: report.resource, reporter: report.reporter ?? null, reportedToken: report.token, newestToken: newest.toString(), accepted: report.accepted, at },
    };
    if (report.accepted) this.closing.set(hazard.id, { hazard, at: at + POINT_HAZARD_OPEN_MS });
    changes.push({ action: 'open', hazard });
    if (!report.accepted) changes.push(resolve(hazard, at));
    return { verdict: report.accepted ? 'stale_accepted' : 'stale_refused', newestToken: newest.toString(), changes };
  }

  /** Closes point hazards whose time is up. */
  tick(at: number): HazardChange[] {
    const out: HazardChange[] = [];
    for (const [id, c] of this.closing) {
      if (c.at > at) continue;
      this.closing.delete(id);
      out.push(resolve(c.hazard, at));
    }
    return out;
  }

  /** When tick() next has something to do. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const c of this.closing.values()) next = next === null ? c.at : Math.min(next, c.at);
    return next;
  }

  /** The newest fencing token granted for a lock (for reports and the API). */
  newestTokenOf(lockId: string): string | null {
    return this.newestToken.get(lockId)?.toString() ?? null;
  }

  private noteToken(lock: HazardLockRef, raw: string | null, at: number, holder: string | null): HazardChange[] {
    const token = numeric(raw);
    if (token === null) return [];
    const newest = this.newestToken.get(lock.lockId);
    const out: HazardChange[] = [];
    const open = this.regressions.get(lock.lockId);
    if (open && token > BigInt(open.tokens[0]!)) {
      // Tokens are past the old high mark again: downstream fencing checks work again.
      this.regressions.delete(lock.lockId);
      out.push(resolve(open, at));
    }
    if (newest !== undefined && token < newest && !this.regressions.has(lock.lockId)) {
      const hazard: Hazard = {
        id: `token_regression|${lock.lockId}|${at}`,
        kind: 'token_regression',
        severity: 'critical',
        source: lock.source,
        lockId: lock.lockId,
        lockName: lock.name,
        since: at,
        until: null,
        holders: holder ? [holder] : [],
        tokens: [newest.toString(), token.toString()],
        detail: `Fencing token ${token} was granted after ${newest}: tokens went backwards (a counter lost in a restart without persistence, or a restored backend). Every resource that remembers ${newest} will refuse the rightful holder, and one that does not check order is unprotected.`,
        evidence: { previousHighest: newest.toString(), granted: token.toString(), holder, at },
      };
      this.regressions.set(lock.lockId, hazard);
      out.push({ action: 'open', hazard });
    }
    if (newest === undefined || token > newest) this.newestToken.set(lock.lockId, token);
    return out;
  }

  private updateGraph(lock: HazardLockRef, holder: string | null, waiters: readonly WaiterObservation[] | null, at: number | null): HazardChange[] {
    const hadWaiters = this.lockWaiters.has(lock.lockId);
    const ids = (waiters ?? []).map((w) => w.holder).filter((h) => h !== holder);
    if (holder === null) this.lockHolder.delete(lock.lockId);
    else this.lockHolder.set(lock.lockId, { identity: holder, ref: lock });
    if (ids.length === 0) this.lockWaiters.delete(lock.lockId);
    else this.lockWaiters.set(lock.lockId, { ref: lock, ids });
    // A cycle needs waiters: locks nobody waits for (nearly all, under load) cost two map writes.
    if (at === null || (!hadWaiters && ids.length === 0 && this.deadlocks.size === 0)) return [];
    const out: HazardChange[] = [];
    const cycles = this.findCycles();
    for (const [key, hazard] of this.deadlocks) {
      if (!cycles.has(key)) {
        this.deadlocks.delete(key);
        out.push(resolve(hazard, at));
      }
    }
    for (const [key, cycle] of cycles) {
      if (this.deadlocks.has(key)) continue;
      const first = cycle[0]!;
      const hazard: Hazard = {
        id: `deadlock|${key}|${at}`,
        kind: 'deadlock',
        severity: 'critical',
        source: first.lock.source,
        lockId: first.lock.lockId,
        lockName: first.lock.name,
        since: at,
        until: null,
        holders: cycle.map((c) => c.holder),
        tokens: [],
        detail: `Deadlock: ${cycle.map((c) => `${c.holder} holds ${JSON.stringify(c.lock.name)} and waits for ${JSON.stringify(c.waitsFor.name)}`).join('; ')}. None of them can go on until one gives up.`,
        evidence: { cycle: cycle.map((c) => ({ holder: c.holder, holds: { lockId: c.lock.lockId, source: c.lock.source, name: c.lock.name }, waitsFor: { lockId: c.waitsFor.lockId, source: c.waitsFor.source, name: c.waitsFor.name } })) },
      };
      this.deadlocks.set(key, hazard);
      out.push({ action: 'open', hazard });
    }
    return out;
  }

  /**
   * Cycles in the wait-for graph (identity -> the holder of a lock it waits for), each once,
   * keyed by its sorted lock ids. Only locks with waiters have edges, so the walk is small.
   */
  private findCycles(): Map<string, { holder: string; lock: HazardLockRef; waitsFor: HazardLockRef }[]> {
    const waitingBy = new Map<string, HazardLockRef[]>();
    for (const { ref, ids } of this.lockWaiters.values()) for (const id of ids) push(waitingBy, id, ref);
    const cycles = new Map<string, { holder: string; lock: HazardLockRef; waitsFor: HazardLockRef }[]>();
    for (const start of waitingBy.keys()) {
      // Depth-first over identities; path holds (identity, the lock it waits for).
      const path: { id: string; waitsFor: HazardLockRef }[] = [];
      const onPath = new Set<string>();
      const visit = (id: string): void => {
        if (onPath.has(id)) {
          const loop = path.slice(path.findIndex((p) => p.id === id));
          // Each identity in the loop holds the lock the one before it waits for.
          const steps = loop.map((p, i) => ({ holder: p.id, lock: loop[(i + loop.length - 1) % loop.length]!.waitsFor, waitsFor: p.waitsFor }));
          const key = [...new Set(steps.map((s) => s.lock.lockId))].sort().join(',');
          if (!cycles.has(key)) cycles.set(key, steps);
          return;
        }
        if (path.length > 64) return;
        onPath.add(id);
        for (const target of waitingBy.get(id) ?? []) {
          const holder = this.lockHolder.get(target.lockId)?.identity;
          if (holder === undefined || holder === id) continue;
          path.push({ id, waitsFor: target });
          visit(holder);
          path.pop();
        }
        onPath.delete(id);
      };
      visit(start);
    }
    return cycles;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function numeric(token: string | null | undefined): bigint | null {
  return token != null && /^\d{1,30}$/.test(token) ? BigInt(token) : null;
}

function resolve(hazard: Hazard, at: number): HazardChange {
  return { action: 'resolve', hazard: { ...hazard, until: at } };
}

/** The body of POST /v1/fencing on the collector (docs/hazards.md). */
export const fencingReportBody = z.strictObject({
  source: z.string().min(1).max(256),
  lock: z.string().min(1).max(4_096),
  token: z.string().min(1).max(64),
  resource: z.string().min(1).max(1_024),
  accepted: z.boolean(),
  reporter: z.string().max(256).nullish(),
});
