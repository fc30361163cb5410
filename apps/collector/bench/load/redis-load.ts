// Load generator for `npm run bench:collector`: plain Redis locks, `SET key token
// NX PX 10000` then a Lua compare-and-delete by the holder, at a fixed rate.
//
// It speaks RESP over one socket itself instead of using ioredis: it stands in for
// clients on other machines but shares this machine's two cores with the collector,
// and ioredis cost ~55 us of CPU per command (~0.5 core at 5,000 acquisitions/s)
// where these few lines cost a fraction of that. Redis sees the same commands.
import { connect, type Socket } from 'node:net';
import { loadArgs, runLoad, type LockClient } from './load-loop.js';

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

type Reply = string | number | null;

/** One connection, commands pipelined in order; each tick's commands go out in one write. */
class RespConnection {
  private readonly waiting: { resolve: (reply: Reply) => void; reject: (error: Error) => void }[] = [];
  private out: string[] = [];
  private input: Buffer = Buffer.alloc(0);
  private failed: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('Redis closed the connection')));
  }

  static open(url: string): Promise<RespConnection> {
    const { hostname, port, password, pathname } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port || 6379) }, () => {
        const conn = new RespConnection(socket);
        const db = pathname.replace(/^\//, '');
        const setup: Promise<Reply>[] = [];
        if (password) setup.push(conn.send(['AUTH', decodeURIComponent(password)]));
        if (db && db !== '0') setup.push(conn.send(['SELECT', db]));
        Promise.all(setup).then(() => resolve(conn), reject);
      });
      socket.once('error', reject);
    });
  }

  send(args: string[]): Promise<Reply> {
    if (this.failed) return Promise.reject(this.failed);
    let command = `*${args.length}\r\n`;
    for (const arg of args) command += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    if (this.out.length === 0) process.nextTick(() => this.flush());
    this.out.push(command);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  close(): void {
    this.socket.end();
  }

  private flush(): void {
    if (this.out.length === 0) return;
    this.socket.write(this.out.join(''));
    this.out = [];
  }

  private onData(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    let pos = 0;
    for (;;) {
      const parsed = parseReply(this.input, pos);
      if (parsed === null) break;
      pos = parsed.next;
      const waiter = this.waiting.shift();
      if (!waiter) return this.fail(new Error('Redis sent a reply nobody asked for'));
      if (parsed.error) waiter.reject(new Error(`Redis: ${parsed.error}`));
      else waiter.resolve(parsed.value);
    }
    this.input = pos === this.input.length ? Buffer.alloc(0) : this.input.subarray(pos);
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }
}

/** One RESP2 reply of the kinds these commands return (simple, error, integer, bulk); null when incomplete. */
function parseReply(buf: Buffer, pos: number): { value: Reply; error?: string; next: number } | null {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const line = buf.toString('latin1', pos + 1, eol);
  switch (buf[pos]) {
    case 0x2b: // +
      return { value: line, next: eol + 2 };
    case 0x2d: // -
      return { value: null, error: line, next: eol + 2 };
    case 0x3a: // :
      return { value: Number(line), next: eol + 2 };
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + length + 2) return null;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + length), next: eol + 2 + length + 2 };
    }
    default:
      throw new Error(`unexpected Redis reply type ${JSON.stringify(String.fromCharCode(buf[pos]!))}`);
  }
}

async function main(): Promise<void> {
  const args = loadArgs(process.argv.slice(2));
  const conn = await RespConnection.open(args.target);
  const sha = String(await conn.send(['SCRIPT', 'LOAD', RELEASE]));
  const client: LockClient = {
    acquire: async (key, token) => (await conn.send(['SET', key, token, 'PX', '10000', 'NX'])) === 'OK',
    release: async (key, token) => {
      await conn.send(['EVALSHA', sha, '1', key, token]);
    },
    close: async () => conn.close(),
  };
  const result = await runLoad(client, { ...args, maxInFlight: 20_000, keyOf: (i) => `lock:bench:${i}` });
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
