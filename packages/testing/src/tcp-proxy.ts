import { connect, createServer, type Socket } from 'node:net';
import { freePort } from './ports.js';

export interface TcpProxy {
  /** The loopback port clients connect to. */
  port: number;
  /** Drops every open connection and refuses new ones (the target looks gone). */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  readonly isCut: boolean;
  close(): Promise<void>;
}

/**
 * A TCP forwarder to 127.0.0.1:targetPort that a test can cut, to take a server
 * away from one client (the collector) while the test itself still reaches it.
 * Hand-written: it is a pipe() per connection plus a switch, and the npm proxies
 * either carry HTTP machinery or cannot drop live connections on demand.
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const open = new Set<Socket>();
  let isCut = false;
  const dropAll = () => {
    for (const socket of open) socket.destroy();
    open.clear();
  };
  // Half-open on both legs so that one side's FIN travels through and replies still flow back.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (isCut) {
      // Accepting and resetting reads to the client as "connection reset", as a dead host behind a balancer does.
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    cut() {
      isCut = true;
      dropAll();
    },
    restore() {
      isCut = false;
    },
    get isCut() {
      return isCut;
    },
    async close() {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
