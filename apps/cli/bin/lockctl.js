#!/usr/bin/env node
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
// Backend clients (gRPC, ioredis, Prisma) may keep handles open after stop();
// the command is done, so end now with the code it chose. stdout/stderr to
// pipes and files are synchronous on Linux, so nothing written is lost.
process.exit(process.exitCode ?? 0);
