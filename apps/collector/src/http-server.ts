import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fencingReportBody, isLockscopeError, LISTEN_ADDRESS_HINT, LockscopeError, parseListenAddress } from '@lockscope/core';
import type { CollectorMetrics } from './metrics.js';

export interface HealthReport {
  ok: boolean;
  sources: { name: string; connected: boolean; lastError: string | null }[];
  store: { ok: boolean; lastError: string | null; bufferedRows: number };
}

/** POST /v1/fencing: where protected resources report the fencing tokens they checked. */
export interface FencingEndpoint {
  /** The bearer token reporters must send; null: the endpoint is off (answers 503 saying how to turn it on). */
  token: string | null;
  report(body: ReturnType<typeof fencingReportBody.parse>): unknown;
}

const MAX_BODY = 16 * 1024;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } });
}

/** Compares secrets without leaking their length or content through timing (hashes are equal length). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function handleFencing(req: IncomingMessage, res: ServerResponse, fencing: FencingEndpoint | undefined): void {
  if (!fencing || fencing.token === null) {
    req.resume();
    error(res, 503, 'FENCING_OFF', 'fencing reports are off: set LOCKSCOPE_FENCING_TOKEN (or LOCKSCOPE_FENCING_TOKEN_FILE) for the collector and send it as a Bearer token');
    return;
  }
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), fencing.token)) {
    req.resume();
    error(res, 401, 'UNAUTHORIZED', 'send the collector\'s fencing token as Authorization: Bearer <token>');
    return;
  }
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
    req.resume();
    error(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send the report as application/json');
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY && !refused) {
      refused = true;
      error(res, 413, 'TOO_LARGE', `a fencing report is at most ${MAX_BODY} bytes`);
      req.destroy();
    } else if (!refused) chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      error(res, 400, 'BAD_REQUEST', 'the body is not JSON');
      return;
    }
    const parsed = fencingReportBody.safeParse(body);
    if (!parsed.success) {
      error(res, 400, 'BAD_REQUEST', `not a fencing report: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
      return;
    }
    try {
      json(res, 200, fencing.report(parsed.data));
    } catch (e) {
      if (isLockscopeError(e, 'LOCK_NOT_FOUND')) error(res, 404, 'LOCK_NOT_FOUND', e.message);
      else error(res, 500, 'INTERNAL', 'the report could not be judged');
    }
  });
}

/** /healthz (JSON, 200 or 503), /metrics (Prometheus text), POST /v1/fencing. */
export async function startHttpServer(
  listen: string,
  metrics: CollectorMetrics,
  health: () => HealthReport,
  fencing?: FencingEndpoint,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/fencing' && req.method === 'POST') {
      handleFencing(req, res, fencing);
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: 'only GET' } }));
      return;
    }
    if (path === '/healthz') {
      const report = health();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'try /healthz or /metrics' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new LockscopeError('BAD_CONFIG', `collector cannot listen on ${listen}: ${error.code === 'EADDRINUSE' ? 'the port is in use; set collector.listen to another port' : error.message}`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export function parseListen(listen: string): { host: string; port: number } {
  const parsed = parseListenAddress(listen);
  if (!parsed) throw new LockscopeError('BAD_CONFIG', `collector.listen must be a ${LISTEN_ADDRESS_HINT}, got "${listen}"`);
  return parsed;
}
