import type { SimEvent } from './context.js';

export interface FencingReporterOptions {
  /** The collector's base URL (its collector.listen), e.g. http://127.0.0.1:9464. */
  url: string;
  /** The collector's LOCKSCOPE_FENCING_TOKEN. */
  token: string;
  /** The collector's source names for the simulator's etcd and Redis. */
  sources: { etcd: string; redis: string };
}

/**
 * Tells the collector what the simulated fenced resources checked (POST /v1/fencing,
 * docs/hazards.md), as a real protected service would: the stalled workers' stale writes
 * then show as stale_token_refused, and their lapsed holds as critical unsafe_handovers.
 */
export class FencingReporter {
  private failed = false;

  constructor(
    private readonly options: FencingReporterOptions,
    private readonly log: (line: string) => void,
  ) {}

  report(event: Extract<SimEvent, { type: 'fencing' }>): void {
    const body = {
      source: this.options.sources[event.backend],
      lock: event.resource,
      token: event.token,
      resource: `simulated-${event.backend}-store`,
      accepted: event.accepted,
      reporter: event.worker,
    };
    void fetch(`${this.options.url.replace(/\/$/, '')}/v1/fencing`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    }).then(
      (res) => {
        if (!res.ok && !this.failed) {
          this.failed = true;
          this.log(`simulator: the collector answered ${res.status} to a fencing report; later failures are not logged`);
        }
      },
      (error: Error) => {
        if (this.failed) return;
        this.failed = true;
        this.log(`simulator: could not report fencing to ${this.options.url} (${error.message}); later failures are not logged`);
      },
    );
  }
}
