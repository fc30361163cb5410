// Load generator for `npm run bench:collector`: single-key etcd lease locks taken as
// the npm etcd3 Lock takes them (a transaction: if the key does not exist, put it with
// the holder's lease), then deleted by the holder after holdMs, at a fixed rate.
//
// It calls etcd's gRPC API (grpc-h2.ts) with the few small messages encoded here
// instead of using the etcd3 client: it stands in for clients on other machines but
// shares this machine's two cores with the collector, and etcd3 over grpc-js cost
// ~0.3 ms of CPU per call (half a core at 1,000 acquisitions/s). etcd sees the same
// requests.
import { GrpcH2Connection } from './grpc-h2.js';
import { loadArgs, runLoad, type LockClient } from './load-loop.js';

/** Protobuf field of wire type 0 (varint) or 2 (bytes), enough for Txn, DeleteRange and the lease calls. */
function field(number: number, value: bigint | Buffer): Buffer {
  if (typeof value === 'bigint') return Buffer.concat([varint(BigInt(number << 3)), varint(value)]);
  return Buffer.concat([varint(BigInt((number << 3) | 2)), varint(BigInt(value.length)), value]);
}

function varint(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

/** The varint in field `number` of a message (the lease ID of a LeaseGrantResponse). */
function readVarintField(message: Buffer, number: number): bigint | null {
  let pos = 0;
  const read = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = message[pos++];
      if (byte === undefined) throw new Error('truncated protobuf message from etcd');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < message.length) {
    const tag = Number(read());
    const wire = tag & 7;
    if (wire === 0) {
      const value = read();
      if (tag >> 3 === number) return value;
    } else if (wire === 2) {
      const length = Number(read());
      pos += length;
    } else {
      throw new Error(`unexpected protobuf wire type ${wire} from etcd`);
    }
  }
  return null;
}

async function main(): Promise<void> {
  const args = loadArgs(process.argv.slice(2));
  const etcd = await GrpcH2Connection.open(args.target.split(',')[0]!);
  // One lease outliving the run, as a service's session lease would.
  const granted = await etcd.unary('/etcdserverpb.Lease/LeaseGrant', field(1, BigInt(Math.ceil(args.seconds) + 60)));
  const lease = readVarintField(granted, 2);
  if (lease === null) throw new Error('etcd granted a lease without an ID');
  const client: LockClient = {
    acquire: async (key, token) => {
      const name = Buffer.from(key);
      // Compare{result: EQUAL, target: CREATE, key, create_revision: 0}; success: RequestOp{request_put}.
      const free = Buffer.concat([field(1, 0n), field(2, 1n), field(3, name), field(5, 0n)]);
      const put = field(2, Buffer.concat([field(1, name), field(2, Buffer.from(token)), field(3, lease)]));
      const reply = await etcd.unary('/etcdserverpb.KV/Txn', Buffer.concat([field(1, free), field(2, put)]));
      // TxnResponse.succeeded (field 2) is absent when false.
      return readVarintField(reply, 2) === 1n;
    },
    release: async (key) => {
      await etcd.unary('/etcdserverpb.KV/DeleteRange', field(1, Buffer.from(key)));
    },
    close: async () => {
      await etcd.unary('/etcdserverpb.Lease/LeaseRevoke', field(1, lease));
      etcd.close();
    },
  };
  const result = await runLoad(client, { ...args, maxInFlight: 2_000, keyOf: (i) => `/bench/lock-${i}` });
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
