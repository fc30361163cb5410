import type { AlertsConfig } from '@lockscope/core';
import { recordDelivery, type Store } from '@lockscope/store';
import { buildBody, SIGNATURE_HEADER, signBody, type AlertNotification, type WebhookFormat } from './payloads.js';

export interface DeliveryOptions {
  webhooks: AlertsConfig['webhooks'];
  /** Where each attempt is logged (Delivery rows); omit to log nowhere. */
  store?: Store;
  now?: () => number;
  log?: (line: string) => void;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  /** Attempts per notification and webhook, the first included (default 8). */
  maxAttempts?: number;
  /** Backoff before attempt n+1: base x 2^(n-1), capped, with ±20 % jitter (defaults 1 s and 60 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Requests in flight per webhook (default 4); notifications of one alert are always sent in order. */
  concurrency?: number;
  /** Notifications waiting per webhook before the oldest are dropped (default 10 000). */
  maxQueue?: number;
}

interface Job {
  notification: AlertNotification;
  /** Serialises firing and resolved of one alert. */
  chain: string;
}

interface Lane {
  name: string;
  url: string;
  format: WebhookFormat;
  secret: string | undefined;
  queue: Job[];
  inFlight: number;
  busyChains: Set<string>;
}

/**
 * Sends notifications to webhooks off the detection path: enqueue() only
 * appends to a queue. Each webhook has its own lane, so one slow or failing
 * receiver delays nobody else; each request has a timeout; failures are
 * retried with exponential backoff; every attempt is written to the delivery log.
 */
export class WebhookDelivery {
  private readonly lanes: Lane[];
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly concurrency: number;
  private readonly maxQueue: number;
  private readonly stopController = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private logChain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: DeliveryOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.backoffBaseMs = options.backoffBaseMs ?? 1_000;
    this.backoffMaxMs = options.backoffMaxMs ?? 60_000;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxQueue = Math.max(1, options.maxQueue ?? 10_000);
    this.lanes = options.webhooks.map((w, i) => ({
      name: webhookName(w, i),
      url: w.url,
      format: w.format,
      secret: w.secret,
      queue: [],
      inFlight: 0,
      busyChains: new Set(),
    }));
  }

  get webhookNames(): string[] {
    return this.lanes.map((l) => l.name);
  }

  /** Notifications waiting or being sent, over all webhooks. */
  get pending(): number {
    return this.lanes.reduce((n, l) => n + l.queue.length + l.inFlight, 0);
  }

  /** Queues a notification for every webhook; never waits. */
  enqueue(notification: AlertNotification): void {
    if (this.stopped) return;
    for (const lane of this.lanes) {
      if (lane.queue.length >= this.maxQueue) {
        const dropped = lane.queue.shift()!;
        this.log(`alerts: webhook ${lane.name} is ${this.maxQueue} notifications behind; dropped ${dropped.notification.status} ${dropped.notification.key}`);
      }
      lane.queue.push({ notification, chain: notification.key });
      this.pump(lane);
    }
  }

  /** Stops sending: in-flight requests and backoff waits are cut short; waits for them up to deadlineMs. */
  async stop(deadlineMs = 2_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopController.abort();
    const left = this.lanes.reduce((n, l) => n + l.queue.length, 0);
    if (left > 0) this.log(`alerts: stopping with ${left} webhook notifications not sent`);
    for (const lane of this.lanes) lane.queue.length = 0;
    await withDeadline(Promise.allSettled([...this.running]).then(() => this.logChain), deadlineMs);
  }

  private pump(lane: Lane): void {
    while (!this.stopped && lane.inFlight < this.concurrency) {
      const index = lane.queue.findIndex((j) => !lane.busyChains.has(j.chain));
      if (index < 0) return;
      const [job] = lane.queue.splice(index, 1) as [Job];
      lane.inFlight++;
      lane.busyChains.add(job.chain);
      const run = this.deliver(lane, job)
        .catch((error: unknown) => this.log(`alerts: delivery to ${lane.name} failed unexpectedly: ${(error as Error).message}`))
        .finally(() => {
          lane.inFlight--;
          lane.busyChains.delete(job.chain);
          this.running.delete(run);
          this.pump(lane);
        });
      this.running.add(run);
    }
  }

  private async deliver(lane: Lane, job: Job): Promise<void> {
    for (let attempt = 1; attempt <= this.maxAttempts && !this.stopped; attempt++) {
      const at = this.now();
      const body = buildBody(lane.format, job.notification, lane.name, at);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'lockscope-collector',
        'x-lockscope-event': job.notification.status,
        'x-lockscope-delivery': `${job.notification.id ?? job.notification.key}:${job.notification.status}:${attempt}`,
      };
      if (lane.secret) headers[SIGNATURE_HEADER] = signBody(lane.secret, body);
      let status: number | null = null;
      let error: string | null = null;
      try {
        const response = await fetch(lane.url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.stopController.signal]),
        });
        status = response.status;
        // Drain the body so the connection can be reused; its content does not matter.
        await response.arrayBuffer().catch(() => undefined);
        if (!response.ok) error = `HTTP ${status}`;
      } catch (e) {
        error = describeFetchError(e, this.timeoutMs);
      }
      const ok = error === null;
      this.record(lane, job, attempt, at, status, ok, error);
      if (ok) return;
      if (!retryable(status) || attempt === this.maxAttempts || this.stopped) {
        this.log(`alerts: giving up on ${job.notification.status} ${job.notification.rule} to webhook ${lane.name} after ${attempt} attempt(s): ${error}`);
        return;
      }
      await sleep(this.backoff(attempt), this.stopController.signal);
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
    // Jitter spreads retries of many collectors hitting one receiver.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private record(lane: Lane, job: Job, attempt: number, at: number, status: number | null, ok: boolean, error: string | null): void {
    const store = this.options.store;
    const id = job.notification.id;
    if (!store || id === null) return;
    this.logChain = this.logChain.then(async () => {
      try {
        await recordDelivery(store, { alertId: id, webhook: lane.name, kind: job.notification.status, at, attempt, status, ok, error });
      } catch (e) {
        this.log(`alerts: could not write the delivery log: ${(e as Error).message}`);
      }
    });
  }
}

/**
 * A name for logs and the delivery log that never contains the URL path or
 * query (Slack and many receivers carry their secret there).
 */
export function webhookName(w: { name?: string | undefined; url: string }, index: number): string {
  if (w.name) return w.name;
  try {
    return `webhook[${index}]@${new URL(w.url).host}`;
  } catch {
    return `webhook[${index}]`;
  }
}

function retryable(status: number | null): boolean {
  return status === null || status === 408 || status === 429 || status >= 500;
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'stopped';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${e?.message ?? String(error)}${cause ? ` (${cause})` : ''}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
