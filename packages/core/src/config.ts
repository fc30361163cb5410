import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ALERT_RULES, isAlertRule } from './alerts/rule-names.js';
import { dashboardAuthSchema } from './dashboard-auth.js';
import { LockscopeError } from './errors.js';

const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'a duration like 500ms, 30s, 5m or 1h')])
  .transform((v) => (typeof v === 'number' ? v : parseDuration(v)));

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return n * unit;
}

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
  slowAcquisitionP95Ms: z.number().positive().optional(),
  highContentionWaiters: z.number().int().positive().optional(),
  maxHoldMs: duration.optional(),
  slowAcquisitionMinSamples: z.number().int().positive().optional(),
  highContentionFor: duration.optional(),
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
  slowAcquisitionP95Ms: z.number().positive().default(50),
  slowAcquisitionMinSamples: z.number().int().positive().default(5),
  slowAcquisitionWindow: duration.default(300_000),
  highContentionWaiters: z.number().int().positive().default(5),
  highContentionFor: duration.default(60_000),
  maxHoldWithoutTtl: duration.default(600_000),
  sourceDownAfter: duration.default(30_000),
  overrides: z.array(ruleOverride).default([]),
  /** How long a lease_expired alert stays open when the lock is not acquired again. */
  leaseExpiredOpenFor: duration.default(300_000),
  mutes: z.array(alertMute).default([]),
  webhooks: z.array(webhook).default([]),
});

export const configSchema = z.strictObject({
  store: z.strictObject({ url: z.string().min(1).default('file:./.lockscope/lockscope.db') }).default({ url: 'file:./.lockscope/lockscope.db' }),
  sources: z.array(sourceConfigSchema).default([]),
  alerts: alertsConfigSchema.default(alertsConfigSchema.parse({})),
  collector: z
    .strictObject({
      listen: z.string().default('127.0.0.1:9464'),
      // How often buffered rows are written (one transaction each). 50 ms keeps the store's
      // view of a lock fresh; under load flushes run back to back anyway (see Batcher).
      flushInterval: duration.default(50),
      retention: duration.default(7 * 24 * 3_600_000),
    })
    .default({ listen: '127.0.0.1:9464', flushInterval: 50, retention: 7 * 24 * 3_600_000 }),
  dashboard: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(1).max(65535).default(3000),
      /** Absent: read-only and loopback-only (see dashboard-auth.ts). */
      auth: dashboardAuthSchema.optional(),
    })
    .default({ host: '127.0.0.1', port: 3000 }),
});

export type LockscopeConfig = z.output<typeof configSchema>;
export type SourceConfig = z.output<typeof sourceConfigSchema>;
export type EtcdSourceConfig = Extract<SourceConfig, { kind: 'etcd' }>;
export type RedisSourceConfig = Extract<SourceConfig, { kind: 'redis' }>;
export type AlertsConfig = z.output<typeof alertsConfigSchema>;

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
  const raw: unknown = doc.toJS() ?? {};
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
