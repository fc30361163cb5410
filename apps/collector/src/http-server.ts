import { createServer, type Server } from 'node:http';
import { LISTEN_ADDRESS_HINT, LockscopeError, parseListenAddress } from '@lockscope/core';
import type { CollectorMetrics } from './metrics.js';

export interface HealthReport {
  ok: boolean;
  sources: { name: string; connected: boolean; lastError: string | null }[];
  store: { ok: boolean; lastError: string | null; bufferedRows: number };
}

/** /healthz (JSON, 200 or 503) and /metrics (Prometheus text). */
export async function startHttpServer(listen: string, metrics: CollectorMetrics, health: () => HealthReport): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
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
