#!/usr/bin/env node
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
// Backend clients (gRPC, ioredis, Prisma) may keep handles open after stop();
// the command is done, so end now with the code it chose, but only once
// stdout and stderr have flushed: a large `ls --json` into a pipe is written
// asynchronously and would be cut off by an early exit.
const code = process.exitCode ?? 0;
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
process.exit(code);
