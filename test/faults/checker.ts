// Compares the load driver's ground truth with what the collector stored: every
// hold the clients made must be stored once, with its holder and token and the end
// reason the collector could know; nothing else may be stored for those locks.
import { getLockHolds, listAlerts, listLocks, MAX_HOLDS, type Store } from '@lockscope/store';
import type { AmbiguousAttempt, Backend, TruthHold } from './load-driver.js';

export interface StoredHold {
  lock: string;
  holder: string | null;
  token: string | null;
  acquiredAt: number;
  endedAt: number | null;
  /** released | expired | force_released | superseded | unknown, or "held" for a lock the store still shows held. */
  endReason: string;
  approximate: boolean;
}

/**
 * A span during which the collector may not have observed a backend (collector down,
 * Redis down, notifications off). [from, to] is as wide as it may have been (a kill -9
 * also loses what was seen but not flushed; a restarted collector may observe before
 * /healthz says so); [certainFrom, certainTo] (default: the same) is when it certainly
 * could not observe (no collector process, no Redis server).
 */
export interface BlindWindow {
  from: number;
  to: number;
  what: string;
  certainFrom?: number;
  certainTo?: number;
}

/** After a window: the client's clock and the collector's health poll are not one instant. */
const SLACK_AFTER_MS = 300;

export interface CheckInput {
  fault: string;
  backend: Backend;
  truth: TruthHold[];
  ambiguous: AmbiguousAttempt[];
  stored: StoredHold[];
  /** Redis only: holds begun and ended inside one cannot be known (etcd replays its history). */
  blind: BlindWindow[];
  /** lease_expired alerts raised for this source: no lease of the driver ever lapses, so each is false. */
  leaseExpiredAlerts: number;
}

export interface Finding {
  hold: string;
  detail: string;
}

export interface CheckResult {
  fault: string;
  backend: Backend;
  /** Ground-truth holds (all, including excepted). */
  truth: number;
  /** Begun and ended while the collector was blind (Redis) and not stored: not required, counted. A stored one is checked. */
  excepted: number;
  /** Stored holds on the driver's locks. */
  stored: number;
  lost: number;
  duplicated: number;
  spurious: number;
  wrongEnd: number;
  wrongHolder: number;
  /**
   * Stored with the Redis source's "unread" holder (the key was gone before its value
   * could be read): the hold is there, who held it is honestly unknown. Counted, not a target.
   */
  unreadHolder: number;
  /** Acquisitions whose reply was lost (may or may not have existed). */
  ambiguous: number;
  falseAlerts: number;
  /** Up to 10 examples per kind, for the report. */
  evidence: Record<'lost' | 'duplicated' | 'spurious' | 'wrongEnd' | 'wrongHolder' | 'unreadHolder', Finding[]>;
  /** Acquisition times (client clock) of the first and last lost hold. */
  lostSpan: { first: number; last: number } | null;
  /** Stored end reasons of the lost-or-wrong holds, counted (what the collector made of them). */
  wrongEndReasons: Record<string, number>;
}

const EXAMPLES = 10;

/** The Redis source's holder for a hold whose value it could not read (UNREAD_HOLDER in @lockscope/sources). */
const UNREAD = /^\(unread\b/;
/** How far an unread hold's stored start may be from the client's acquisition to be that acquisition. */
const UNREAD_MATCH_MS = 1_000;

function describeTruth(h: TruthHold): string {
  const t = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(11, 23));
  return `${h.lock} ${h.holder}${h.token ? ` rev ${h.token}` : ''} [${t(h.acquiredAt)}..${t(h.endedAt)}] ${h.end}`;
}

function describeStored(s: StoredHold): string {
  const t = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(11, 23));
  return `${s.lock} ${s.holder ?? '(no holder)'}${s.token ? ` token ${s.token}` : ''} [${t(s.acquiredAt)}..${t(s.endedAt)}] ${s.endReason}${s.approximate ? ' approx' : ''}`;
}

/**
 * The end reasons the collector may store for a hold. etcd replays every change
 * from its history, so a release is always `released`. A Redis release the
 * collector could not see (inside a blind window) can only be `unknown` with
 * `approximate` set; near a window's edge either is right.
 */
export function acceptableEnds(hold: TruthHold, blind: BlindWindow[]): Set<string> {
  if (hold.end === 'gone') return new Set(['unknown']);
  if (hold.end === 'force_released') return new Set(['force_released']);
  if (hold.end === 'open') return new Set(['held']);
  if (hold.backend === 'etcd') return new Set(['released']);
  const at = hold.endedAt!;
  for (const w of blind) {
    if (at > (w.certainFrom ?? w.from) && at < (w.certainTo ?? w.to)) return new Set(['unknown']);
    if (at >= w.from && at <= w.to + SLACK_AFTER_MS) return new Set(['released', 'unknown']);
  }
  return new Set(['released']);
}

function isExcepted(hold: TruthHold, blind: BlindWindow[]): boolean {
  if (hold.backend !== 'redis') return false;
  return blind.some((w) => hold.acquiredAt >= w.from && (hold.endedAt ?? Infinity) <= w.to + SLACK_AFTER_MS);
}

export function checkHolds(input: CheckInput): CheckResult {
  const key = (lock: string, holder: string | null) => `${lock}\u0000${holder ?? ''}`;
  const storedBy = new Map<string, StoredHold[]>();
  for (const s of input.stored) {
    const k = key(s.lock, s.holder);
    storedBy.set(k, [...(storedBy.get(k) ?? []), s]);
  }
  const truthKeys = new Set(input.truth.map((h) => key(h.lock, h.holder)));
  const truthHolders = new Set(input.truth.map((h) => h.holder));
  const ambiguousKeys = new Set(input.ambiguous.map((a) => key(a.lock, a.holder)));
  const result: CheckResult = {
    fault: input.fault,
    backend: input.backend,
    truth: input.truth.length,
    excepted: 0,
    stored: input.stored.length,
    lost: 0,
    duplicated: 0,
    spurious: 0,
    wrongEnd: 0,
    wrongHolder: 0,
    unreadHolder: 0,
    ambiguous: input.ambiguous.length,
    falseAlerts: input.leaseExpiredAlerts,
    evidence: { lost: [], duplicated: [], spurious: [], wrongEnd: [], wrongHolder: [], unreadHolder: [] },
    wrongEndReasons: {},
    lostSpan: null,
  };
  const note = (kind: keyof CheckResult['evidence'], hold: string, detail: string) => {
    if (result.evidence[kind].length < EXAMPLES) result.evidence[kind].push({ hold, detail });
  };

  // Unread holds per lock, each to be paired with at most one acquisition that has no row of its own.
  const unread = new Map<string, StoredHold[]>();
  for (const s of input.stored) {
    if (s.holder !== null && UNREAD.test(s.holder)) unread.set(s.lock, [...(unread.get(s.lock) ?? []), s]);
  }
  const paired = new Set<StoredHold>();

  // A hold stored more than once: its own row is the one that began nearest to it; the
  // others are duplicates, unless one of them is an earlier hold on the lock stored under
  // this holder's value (read after the lock changed hands), which is a wrong holder.
  const own = new Map<TruthHold, StoredHold>();
  const extras = new Map<string, { row: StoredHold; owner: TruthHold; claimed: boolean }[]>();
  for (const hold of input.truth) {
    const rows = storedBy.get(key(hold.lock, hold.holder)) ?? [];
    if (rows.length === 0) continue;
    const sorted = [...rows].sort((x, y) => Math.abs(x.acquiredAt - hold.acquiredAt) - Math.abs(y.acquiredAt - hold.acquiredAt));
    own.set(hold, sorted[0]!);
    for (const row of sorted.slice(1)) extras.set(hold.lock, [...(extras.get(hold.lock) ?? []), { row, owner: hold, claimed: false }]);
  }

  for (const hold of input.truth) {
    const rows = storedBy.get(key(hold.lock, hold.holder)) ?? [];
    const stand = () => {
      const row = unread.get(hold.lock)?.find((s) => !paired.has(s) && Math.abs(s.acquiredAt - hold.acquiredAt) <= UNREAD_MATCH_MS);
      if (row) paired.add(row);
      return row;
    };
    if (isExcepted(hold, input.blind) && rows.length === 0) {
      result.excepted++;
      // Seen in part after all: its unread row is this hold, not an invented one.
      stand();
      continue;
    }
    if (rows.length === 0) {
      const row = stand();
      if (row) {
        result.unreadHolder++;
        note('unreadHolder', describeTruth(hold), `stored as ${describeStored(row)}`);
        continue;
      }
      const taken = extras.get(hold.lock)?.find((e) => !e.claimed && Math.abs(e.row.acquiredAt - hold.acquiredAt) <= UNREAD_MATCH_MS);
      if (taken) {
        taken.claimed = true;
        result.wrongHolder++;
        note('wrongHolder', describeTruth(hold), `stored under the holder of ${taken.owner.holder}: ${describeStored(taken.row)}`);
        continue;
      }
      result.lost++;
      result.lostSpan = { first: Math.min(result.lostSpan?.first ?? Infinity, hold.acquiredAt), last: Math.max(result.lostSpan?.last ?? -Infinity, hold.acquiredAt) };
      note('lost', describeTruth(hold), 'no stored hold with this lock and holder');
      continue;
    }
    const row = own.get(hold)!;
    if (hold.token !== null && row.token !== hold.token) {
      result.wrongHolder++;
      note('wrongHolder', describeTruth(hold), `stored token ${row.token ?? '(none)'}`);
    }
    const ok = acceptableEnds(hold, input.blind);
    // An end the collector did not see is only honest when marked approximate.
    const honest = row.endReason !== 'unknown' || row.approximate;
    if (!ok.has(row.endReason) || !honest) {
      result.wrongEnd++;
      const label = `${row.endReason}${row.approximate ? '' : row.endReason === 'unknown' ? ' (not approximate)' : ''}`;
      result.wrongEndReasons[label] = (result.wrongEndReasons[label] ?? 0) + 1;
      note('wrongEnd', describeTruth(hold), `stored ${describeStored(row)}; expected ${[...ok].join(' or ')}`);
    }
  }

  const duplicatedBy = new Map<TruthHold, StoredHold[]>();
  for (const e of [...extras.values()].flat()) if (!e.claimed) duplicatedBy.set(e.owner, [...(duplicatedBy.get(e.owner) ?? []), e.row]);
  for (const [hold, rows] of duplicatedBy) {
    result.duplicated++;
    note('duplicated', describeTruth(hold), [own.get(hold)!, ...rows].map(describeStored).join(' | '));
  }

  for (const s of input.stored) {
    const k = key(s.lock, s.holder);
    if (truthKeys.has(k) || ambiguousKeys.has(k) || paired.has(s)) continue;
    // An acquisition whose reply was lost may have existed, unread.
    if ((s.holder !== null && UNREAD.test(s.holder) && input.ambiguous.some((a) => a.lock === s.lock && Math.abs(a.at - s.acquiredAt) <= UNREAD_MATCH_MS))) continue;
    if (s.holder !== null && truthHolders.has(s.holder)) {
      result.wrongHolder++;
      note('wrongHolder', describeStored(s), 'this holder held a different lock');
    } else {
      result.spurious++;
      note('spurious', describeStored(s), 'no acquisition made this hold');
    }
  }
  return result;
}

/**
 * Every hold the store has for a source's locks, through the same read services
 * the dashboard uses (listLocks, then getLockHolds per lock), plus the lock still
 * shown held as a hold ending "held".
 */
export async function readStoredHolds(store: Store, source: string, since: number): Promise<StoredHold[]> {
  const out: StoredHold[] = [];
  let cursor: string | undefined;
  const now = Date.now();
  for (;;) {
    const page = await listLocks({ db: store.prisma, source, limit: 500, ...(cursor ? { cursor } : {}) });
    for (const lock of page.items) {
      const { holds, truncated } = await getLockHolds({ db: store.prisma, id: lock.id, from: since - 3_600_000, to: now + 60_000, now, limit: MAX_HOLDS });
      if (truncated) throw new Error(`more than ${MAX_HOLDS} holds on ${lock.name}: the run is longer than the checker reads`);
      for (const h of holds) {
        out.push({ lock: lock.name, holder: h.holder, token: h.token, acquiredAt: h.acquiredAt, endedAt: h.endedAt, endReason: h.current ? 'held' : h.endReason, approximate: h.approximate });
      }
    }
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}

/** lease_expired alerts raised for a source since `since`. */
export async function countLeaseExpiredAlerts(store: Store, source: string, since: number): Promise<number> {
  return (await listAlerts(store, { rule: 'lease_expired', source, since, limit: 1_000 })).length;
}

const COLUMNS: [string, (r: CheckResult) => string | number][] = [
  ['fault', (r) => r.fault],
  ['backend', (r) => r.backend],
  ['ground truth', (r) => r.truth],
  ['excepted', (r) => r.excepted],
  ['stored', (r) => r.stored],
  ['lost', (r) => r.lost],
  ['duplicated', (r) => r.duplicated],
  ['spurious', (r) => r.spurious],
  ['wrong end', (r) => r.wrongEnd],
  ['wrong holder', (r) => r.wrongHolder],
  ['holder unread', (r) => r.unreadHolder],
  ['false alerts', (r) => r.falseAlerts],
  ['ambiguous', (r) => r.ambiguous],
];

/** A Markdown table (readable in a terminal, pastes into the README). */
export function formatTable(results: CheckResult[]): string {
  const rows = results.map((r) => COLUMNS.map(([, get]) => String(get(r))));
  const header = COLUMNS.map(([h]) => h);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The examples behind a result's failures, one line each. */
export function formatEvidence(r: CheckResult): string {
  const lines: string[] = [];
  for (const [kind, findings] of Object.entries(r.evidence)) {
    for (const f of findings) lines.push(`  ${r.fault}/${r.backend} ${kind}: ${f.hold} -- ${f.detail}`);
  }
  if (r.lostSpan) lines.push(`  ${r.fault}/${r.backend} lost holds were acquired from ${new Date(r.lostSpan.first).toISOString()} to ${new Date(r.lostSpan.last).toISOString()}`);
  if (Object.keys(r.wrongEndReasons).length > 0) lines.push(`  ${r.fault}/${r.backend} wrong end reasons stored: ${JSON.stringify(r.wrongEndReasons)}`);
  return lines.join('\n');
}
