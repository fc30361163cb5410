// A minimal gRPC client for the benchmark's etcd load generator: unary calls over one
// cleartext HTTP/2 connection (h2c with prior knowledge, as etcd's client port serves).
//
// Why not node:http2: each of its streams is a full Duplex stream object, and at 2,000
// calls/s that cost ~0.25 core, a sixth of this 2-core machine, taken from the collector
// the benchmark measures. This speaks just enough HTTP/2 for unary calls: frames are
// batched into one socket write per tick, request headers are precomputed HPACK, and
// responses are read without decoding their headers. A call succeeds when its response
// carries a message; a stream that ends without one (gRPC's trailers-only error) or is
// reset fails with a message saying so.
import { connect, type Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8 } as const;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const MAX_WINDOW = 2 ** 31 - 1;

interface Call {
  resolve: (message: Buffer) => void;
  reject: (error: Error) => void;
  chunks: Buffer[];
  method: string;
}

interface Queued {
  method: string;
  body: Buffer;
  call: Call;
}

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream & 0x7fffffff, 5);
  return header;
}

/** An HPACK string literal, not Huffman-coded (RFC 7541 5.2); our values are short. */
function hpackString(value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  if (bytes.length >= 127) throw new Error(`header value too long for this encoder: ${value}`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** The request header block for `path`: only literals and static-table entries, so no encoder state. */
function requestHeaders(path: string, authority: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83]), // :method POST (static 3)
    Buffer.from([0x86]), // :scheme http (static 6)
    Buffer.from([0x04]), hpackString(path), // :path, name from static 4, not indexed
    Buffer.from([0x01]), hpackString(authority), // :authority (static 1)
    Buffer.from([0x0f, 0x10]), hpackString('application/grpc'), // content-type (static 31)
    Buffer.from([0x00]), hpackString('te'), hpackString('trailers'),
  ]);
}

export class GrpcH2Connection {
  private nextStream = 1;
  private readonly calls = new Map<number, Call>();
  private readonly queue: Queued[] = [];
  private readonly headerBlocks = new Map<string, Buffer>();
  private out: Buffer[] = [];
  private input: Buffer = Buffer.alloc(0);
  private failed: Error | null = null;
  /** What the server lets us send on the connection, and how many streams at once. */
  private sendWindow = 65_535;
  private maxStreams = 100;

  private constructor(
    private readonly socket: Socket,
    private readonly authority: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('etcd closed the connection')));
    // Our receive windows as large as HTTP/2 allows: responses never wait on us.
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
    settings.writeUInt32BE(MAX_WINDOW, 2);
    const increment = Buffer.alloc(4);
    increment.writeUInt32BE(MAX_WINDOW - 65_535, 0);
    this.write(PREFACE, frameHeader(6, FRAME.SETTINGS, 0, 0), settings, frameHeader(4, FRAME.WINDOW_UPDATE, 0, 0), increment);
  }

  static open(endpoint: string): Promise<GrpcH2Connection> {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:') throw new Error(`only cleartext http:// endpoints are supported here, got ${endpoint}`);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port || 2379) }, () => resolve(new GrpcH2Connection(socket, url.host)));
      socket.once('error', reject);
    });
  }

  /** One unary call: `method` is the full path (/etcdserverpb.KV/Txn); resolves with the response message. */
  unary(method: string, message: Buffer): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    const body = Buffer.alloc(5 + message.length);
    body.writeUInt32BE(message.length, 1);
    message.copy(body, 5);
    return new Promise((resolve, reject) => {
      this.queue.push({ method, body, call: { resolve, reject, chunks: [], method } });
      this.pump();
    });
  }

  close(): void {
    this.failed ??= new Error('connection closed');
    this.socket.end();
  }

  /** Starts queued calls while the server's stream limit and send window allow. */
  private pump(): void {
    while (this.queue.length > 0 && this.calls.size < this.maxStreams && this.queue[0]!.body.length <= this.sendWindow) {
      const { method, body, call } = this.queue.shift()!;
      const stream = this.nextStream;
      this.nextStream += 2;
      this.calls.set(stream, call);
      let block = this.headerBlocks.get(method);
      if (!block) this.headerBlocks.set(method, (block = requestHeaders(method, this.authority)));
      this.sendWindow -= body.length;
      this.write(frameHeader(block.length, FRAME.HEADERS, FLAG.END_HEADERS, stream), block, frameHeader(body.length, FRAME.DATA, FLAG.END_STREAM, stream), body);
    }
  }

  private write(...buffers: Buffer[]): void {
    if (this.out.length === 0) process.nextTick(() => this.flush());
    this.out.push(...buffers);
  }

  private flush(): void {
    if (this.out.length === 0 || this.failed) return;
    this.socket.write(Buffer.concat(this.out));
    this.out = [];
  }

  private onData(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    let pos = 0;
    while (this.input.length - pos >= 9) {
      const length = this.input.readUIntBE(pos, 3);
      if (this.input.length - pos < 9 + length) break;
      const type = this.input[pos + 3]!;
      const flags = this.input[pos + 4]!;
      const stream = this.input.readUInt32BE(pos + 5) & 0x7fffffff;
      const payload = this.input.subarray(pos + 9, pos + 9 + length);
      pos += 9 + length;
      this.onFrame(type, flags, stream, payload);
      if (this.failed) return;
    }
    this.input = pos === this.input.length ? Buffer.alloc(0) : Buffer.from(this.input.subarray(pos));
    this.pump();
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    switch (type) {
      case FRAME.DATA: {
        const call = this.calls.get(stream);
        if (call) {
          const pad = flags & FLAG.PADDED ? payload[0]! : 0;
          call.chunks.push(Buffer.from(payload.subarray(flags & FLAG.PADDED ? 1 : 0, payload.length - pad)));
        }
        if (flags & FLAG.END_STREAM) this.end(stream);
        return;
      }
      case FRAME.HEADERS:
        // Response headers and trailers: not decoded (see the file comment); only the end matters.
        if (flags & FLAG.END_STREAM) this.end(stream);
        return;
      case FRAME.RST_STREAM: {
        const call = this.calls.get(stream);
        this.calls.delete(stream);
        call?.reject(new Error(`etcd reset the ${call.method} stream (HTTP/2 error ${payload.readUInt32BE(0)})`));
        return;
      }
      case FRAME.SETTINGS:
        if (flags & FLAG.ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const id = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (id === SETTINGS_MAX_CONCURRENT_STREAMS) this.maxStreams = value;
        }
        this.write(frameHeader(0, FRAME.SETTINGS, FLAG.ACK, 0));
        return;
      case FRAME.PING:
        if (!(flags & FLAG.ACK)) this.write(frameHeader(8, FRAME.PING, FLAG.ACK, 0), Buffer.from(payload));
        return;
      case FRAME.WINDOW_UPDATE:
        // Requests are far smaller than any stream window; only the connection's counts.
        if (stream === 0) this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
        return;
      case FRAME.GOAWAY:
        this.fail(new Error(`etcd sent GOAWAY (HTTP/2 error ${payload.readUInt32BE(4)}${payload.length > 8 ? `: ${payload.subarray(8).toString('utf8')}` : ''})`));
        return;
      default:
        // PRIORITY, PUSH_PROMISE (never sent to us: push is off by default for gRPC servers), CONTINUATION.
        return;
    }
  }

  private end(stream: number): void {
    const call = this.calls.get(stream);
    if (!call) return;
    this.calls.delete(stream);
    const data = Buffer.concat(call.chunks);
    // One uncompressed gRPC message: a zero flag byte and a 4-byte length, then the message.
    if (data.length >= 5 && data[0] === 0 && data.readUInt32BE(1) === data.length - 5) call.resolve(data.subarray(5));
    else call.reject(new Error(`etcd answered ${call.method} without a message (a gRPC error; run the same request with etcdctl to see it)`));
  }

  private fail(error: Error): void {
    if (this.failed && this.calls.size === 0 && this.queue.length === 0) return;
    this.failed ??= error;
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
    for (const { call } of this.queue.splice(0)) call.reject(error);
  }
}
