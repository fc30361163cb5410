import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ALERT_RULES, isAlertRule } from './alerts/rule-names.js';
import { LockscopeError } from './errors.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_TEXT = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** "500ms", "30s", "5m", "1.5h", "2d" -> milliseconds. Throws on anything else; callers bound the result. */
export function parseDuration(text: string): number {
  const m = DURATION_TEXT.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** Milliseconds as the shortest exact duration text, for range messages: 60000 -> "1m". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

const DAY = UNIT_MS.d;

/**
 * A duration (a number of ms, or text like 30s) within [min, max]. Every duration has a
 * range: 1e308 or "99999999999999h" is a typo, and would otherwise become a timer delay
 * that Node clamps to 1 ms, or a date that does not exist.
 */
function duration(min: number, max: number) {
  return z
    .union([z.number(), z.string().regex(DURATION_TEXT, 'a duration like 500ms, 30s, 5m, 1h or 2d')])
    .transform((v) => (typeof v === 'number' ? v : parseDuration(v)))
    .refine((ms) => Number.isFinite(ms) && ms >= min && ms <= max, `a duration from ${formatDuration(min)} to ${formatDuration(max)}`);
}

/** A count or a number of ms within [min, max], with the range in the message. */
function bounded(min: number, max: number, options: { int?: boolean } = {}) {
  const base = options.int ? z.number().int() : z.number();
  return base.refine((n) => n >= min && n <= max, `a number from ${min} to ${max}`);
}

/** `host:port` or `[v6]:port`, port 0-65535 (0: any free port). Null when it is not one. */
export function parseListenAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  return port <= 65_535 ? { host: m[1] ?? m[2]!, port } : null;
}

export const LISTEN_ADDRESS_HINT = 'host:port like 127.0.0.1:9464 or [::1]:9464, port 0-65535';

const listenAddress = z.string().refine((s) => parseListenAddress(s) !== null, LISTEN_ADDRESS_HINT);

const sourceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, dot, dash or underscore (max 63)');

const etcdSource = z.strictObject({
  name: sourceName,
  kind: z.literal('etcd'),
  endpoints: z.array(z.url({ protocol: /^https?$/ })).min(1),
  /** Key prefixes to watch; every key under them is a lock candidate. */
  prefixes: z.array(z.string().min(1)).min(1),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Keys that look like `<prefix>/<hex>` are mutex contenders; override per glob. */
  dialects: z.record(z.string(), z.enum(['etcd-mutex', 'etcd-lease-key'])).optional(),
});

const redisSource = z.strictObject({
  name: sourceName,
  kind: z.literal('redis'),
  url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
  /** SCAN/notification patterns (Redis glob syntax). */
  patterns: z.array(z.string().min(1)).min(1),
  /** CONFIG SET notify-keyspace-events when it is off. */
  enableNotifications: z.boolean().default(true),
});

export const sourceConfigSchema = z.discriminatedUnion('kind', [etcdSource, redisSource]);

const ruleOverride = z.strictObject({
  /** Glob over lock names (and `source:name`). */
  match: z.string().min(1),
  nearExpiryRatio: z.number().gt(0).lt(1).optional(),
  slowAcquisitionP95Ms: bounded(0.001, DAY).optional(),
  highContentionWaiters: bounded(1, 1_000_000, { int: true }).optional(),
  maxHoldMs: duration(100, 365 * DAY).optional(),
  slowAcquisitionMinSamples: bounded(1, 1_000_000, { int: true }).optional(),
  highContentionFor: duration(0, 365 * DAY).optional(),
  mute: z.boolean().optional(),
});

const alertRuleName = z.string().refine(isAlertRule, {
  error: (issue) => `unknown alert rule ${JSON.stringify(issue.input)}; known rules: ${ALERT_RULES.join(', ')}`,
});

const isoTime = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), 'an ISO 8601 time like 2026-11-23T08:00:00Z');

const alertMute = z.strictObject({
  /** Glob over lock names (and `source:name`); source_down matches the source name. */
  match: z.string().min(1),
  /** Mute only this rule; all rules when absent. */
  rule: alertRuleName.optional(),
  /** Mute until this time; for ever when absent. */
  until: isoTime.optional(),
});

const webhook = z.strictObject({
  name: z.string().min(1).optional(),
  url: z.url({ protocol: /^https?$/ }),
  format: z.enum(['lockscope', 'slack', 'alertmanager']).default('lockscope'),
  secret: z.string().min(1).optional(),
});

export const alertsConfigSchema = z.strictObject({
  nearExpiryRatio: z.number().gt(0).lt(1).default(0.8),
  slowAcquisitionP95Ms: bounded(0.001, DAY).default(50),
  slowAcquisitionMinSamples: bounded(1, 1_000_000, { int: true }).default(5),
  slowAcquisitionWindow: duration(100, 7 * DAY).default(300_000),
  highContentionWaiters: bounded(1, 1_000_000, { int: true }).default(5),
  highContentionFor: duration(0, 365 * DAY).default(60_000),
  maxHoldWithoutTtl: duration(100, 365 * DAY).default(600_000),
  sourceDownAfter: duration(100, 7 * DAY).default(30_000),
  overrides: z.array(ruleOverride).default([]),
  /** How long a lease_expired alert stays open when the lock is not acquired again. */
  leaseExpiredOpenFor: duration(100, 365 * DAY).default(300_000),
  mutes: z.array(alertMute).default([]),
  webhooks: z.array(webhook).default([]),
});

export const configSchema = z.strictObject({
  store: z.strictObject({ url: z.string().min(1).default('file:./.lockscope/lockscope.db') }).default({ url: 'file:./.lockscope/lockscope.db' }),
  sources: z.array(sourceConfigSchema).default([]),
  alerts: alertsConfigSchema.default(alertsConfigSchema.parse({})),
  collector: z
    .strictObject({
      listen: listenAddress.default('127.0.0.1:9464'),
      // How often buffered rows are written (one transaction each). 50 ms keeps the store's
      // view of a lock fresh; under load flushes run back to back anyway (see Batcher).
      // At most a minute: the shutdown flush and the freshness of live rows rest on it.
      flushInterval: duration(5, 60_000).default(50),
      retention: duration(60_000, 3650 * DAY).default(7 * 24 * 3_600_000),
      // While the store is down: rows kept in memory before the rest goes to spillDir (on
      // local disk, beside the config unless absolute), and how long without a commit
      // before /healthz says the store is stalled.
      maxBufferedRows: bounded(1_000, 100_000_000, { int: true }).default(200_000),
      spillDir: z.string().min(1).default('.lockscope/spill'),
      storeStallAfter: duration(1_000, DAY).default(30_000),
    })
    .default({ listen: '127.0.0.1:9464', flushInterval: 50, retention: 7 * 24 * 3_600_000, maxBufferedRows: 200_000, spillDir: '.lockscope/spill', storeStallAfter: 30_000 }),
  dashboard: z
    .strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(1).max(65535).default(3000) })
    .default({ host: '127.0.0.1', port: 3000 }),
});

export type LockscopeConfig = z.output<typeof configSchema>;
export type SourceConfig = z.output<typeof sourceConfigSchema>;
export type EtcdSourceConfig = Extract<SourceConfig, { kind: 'etcd' }>;
export type RedisSourceConfig = Extract<SourceConfig, { kind: 'redis' }>;
export type AlertsConfig = z.output<typeof alertsConfigSchema>;

/** YAML aliases may expand to at most this many nodes; a config file has no need for more. */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates lockscope.yaml text. Every problem is reported with its
 * path in the file and line, e.g. `sources[0].endpoints[0] (line 4): ...`.
 * `env` supplies overrides parsed once at start-up (DATABASE_URL).
 */
export function parseConfig(text: string, fileName = 'lockscope.yaml', env: { DATABASE_URL?: string | undefined } = {}): LockscopeConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    throw new LockscopeError('BAD_CONFIG', `${fileName}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  if (doc.contents === null) {
    // Usually a wrong path (/dev/null) or a truncated file; silently running on defaults would
    // watch nothing and put the store wherever the file happens to be.
    throw new LockscopeError('BAD_CONFIG', `${fileName} is empty; write \`{}\` in it to run on the defaults.`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // yaml throws a ReferenceError past maxAliasCount (the "billion laughs" expansion).
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new LockscopeError('BAD_CONFIG', `${fileName}: invalid YAML: ${reason} (at most ${MAX_ALIAS_COUNT} alias expansions are allowed).`, { cause: error });
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.slice(0, 10).map((issue) => {
      const path = formatPath(issue.path);
      const node = doc.getIn(issue.path as (string | number)[], true) as YamlNode | undefined;
      const parentNode = issue.path.length > 0 ? (doc.getIn(issue.path.slice(0, -1) as (string | number)[], true) as YamlNode | undefined) : undefined;
      const range = node?.range ?? (isMap(parentNode) || isSeq(parentNode) ? parentNode.range : undefined);
      const line = range ? ` (line ${lineCounter.linePos(range[0]).line})` : '';
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${path || '(top level)'}${line}: ${message}`;
    });
    throw new LockscopeError('BAD_CONFIG', `${fileName} is not valid:\n  ${lines.join('\n  ')}`);
  }
  const config = result.data;
  if (env.DATABASE_URL) config.store.url = env.DATABASE_URL;
  const seen = new Set<string>();
  for (const [i, s] of config.sources.entries()) {
    if (seen.has(s.name)) throw new LockscopeError('BAD_CONFIG', `${fileName} is not valid:\n  sources[${i}].name: duplicate source name "${s.name}"`);
    seen.add(s.name);
  }
  return config;
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}
