import { LockscopeError, type EtcdSourceConfig } from '@lockscope/core';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';

/** Unary calls give up after this long, so an unreachable endpoint is a prompt, clear error. */
export const ETCD_CALL_TIMEOUT_MS = 5_000;
const DIAL_TIMEOUT_MS = 3_000;
/**
 * Largest gRPC message accepted. Range pages shrink when a page would be larger, and
 * watch responses arrive in fragments, so this bounds memory rather than what can be read.
 */
export const DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

export interface EtcdClientOptions {
  /** Every failure of a call made through `call` is reported here (health, logs). */
  onError: (error: LockscopeError) => void;
  maxReceiveBytes?: number;
}

export interface EtcdClient {
  readonly client: Etcd3;
  /**
   * Runs one backend call; failures become a LockscopeError and are reported.
   * Errors `expected` accepts (compaction, lease not found) are rethrown as they are, unreported.
   */
  call<T>(what: string, fn: (client: Etcd3) => Promise<T>, expected?: (error: unknown) => boolean): Promise<T>;
  close(): void;
}

/**
 * The one place etcd clients are made: short dial and call deadlines, a
 * three-attempt retry with backoff over hosts, a per-host circuit breaker, and
 * an error handler on every call. The Etcd3 constructor does not connect.
 */
export function createEtcdClient(config: EtcdSourceConfig, { onError, maxReceiveBytes = DEFAULT_MAX_RECEIVE_BYTES }: EtcdClientOptions): EtcdClient {
  // gRPC marks an over-size response as recoverable; retrying it as-is or tripping the breaker on it is wrong.
  const transient = (error: Error) => isRecoverableError(error) && !isTooLargeError(error);
  const client = new Etcd3({
    hosts: config.endpoints,
    dialTimeout: DIAL_TIMEOUT_MS,
    ...(config.username && config.password ? { auth: { username: config.username, password: config.password } } : {}),
    grpcOptions: {
      'grpc.max_receive_message_length': maxReceiveBytes,
      // A link that dies silently (no RST) must still end the watch stream; etcd allows pings every 5 s.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
    faultHandling: {
      global: retry(handleWhen(transient), {
        maxAttempts: 2,
        backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1_000 }),
      }),
      host: () => circuitBreaker(handleWhen(transient), { halfOpenAfter: 2_000, breaker: new ConsecutiveBreaker(3) }),
    },
  });
  let closed = false;
  return {
    client,
    async call(what, fn, expected) {
      try {
        return await fn(client);
      } catch (error) {
        if (expected?.(error)) throw error;
        const mapped = toSourceError(config, what, error);
        if (!closed) onError(mapped);
        throw mapped;
      }
    },
    close() {
      closed = true;
      client.close();
    },
  };
}

/** True when etcd refused a read or watch because the revision was compacted away. */
export function isCompactedError(error: unknown): boolean {
  const text = errorText(error);
  return /compacted/i.test(text);
}

/** True when a response would exceed the client's message size limit (the page must shrink). */
export function isTooLargeError(error: unknown): boolean {
  return /RESOURCE_EXHAUSTED|larger than max/i.test(errorText(error));
}

/** True when etcd refused a revision newer than its head (a different or wiped cluster). */
export function isFutureRevisionError(error: unknown): boolean {
  return /future revision/i.test(errorText(error));
}

export function errorText(error: unknown): string {
  if (error instanceof LockscopeError) return `${error.message} ${errorText(error.cause)}`;
  return error instanceof Error ? error.message : String(error);
}

export function isUnreachableError(error: unknown): boolean {
  if (isBrokenCircuitError(error)) return true;
  if (error instanceof Error && isRecoverableError(error) && !isTooLargeError(error)) return true;
  const text = errorText(error);
  return /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|ECONNRESET|No connection established|failed to connect|Deadline exceeded|Connection dropped/i.test(text);
}

/** A failure in a sentence a person can act on, carrying the endpoint. */
export function toSourceError(config: EtcdSourceConfig, what: string, error: unknown): LockscopeError {
  if (error instanceof LockscopeError) return error;
  const endpoints = config.endpoints.join(', ');
  const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.replace(/ Please report this error at .*$/, '');
  if (isUnreachableError(error)) {
    return new LockscopeError(
      'SOURCE_UNREACHABLE',
      `etcd source "${config.name}" is unreachable at ${endpoints} (${what}): ${reason}. Check that etcd is running and reachable from here.`,
      { cause: error, details: { source: config.name, endpoints: config.endpoints } },
    );
  }
  if (/auth|permission denied|invalid auth token/i.test(reason)) {
    return new LockscopeError(
      'SOURCE_MISCONFIGURED',
      `etcd source "${config.name}" at ${endpoints} refused ${what}: ${reason}. Check the username, password and role permissions.`,
      { cause: error, details: { source: config.name, endpoints: config.endpoints } },
    );
  }
  return new LockscopeError('INTERNAL', `etcd source "${config.name}" at ${endpoints} failed ${what}: ${reason}`, {
    cause: error,
    details: { source: config.name, endpoints: config.endpoints },
  });
}
