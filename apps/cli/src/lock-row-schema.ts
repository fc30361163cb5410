import { z } from 'zod';
import { DIALECTS } from '@lockscope/core';

/**
 * The `lockctl ls --json` contract as a schema: every field present, unknown
 * values null. Scripts and tests validate against it.
 */
export const waiterRowSchema = z.strictObject({
  holder: z.string(),
  token: z.string().nullable(),
  since: z.number().nullable(),
  waitedMs: z.number().nonnegative().nullable(),
});

export const lockRowSchema = z.strictObject({
  source: z.string().min(1),
  name: z.string(),
  keyHex: z.string().regex(/^([0-9a-f]{2})*$/),
  dialect: z.enum(DIALECTS as [string, ...string[]]),
  held: z.boolean(),
  holder: z.string().nullable(),
  token: z.string().nullable(),
  acquiredAt: z.number().nullable(),
  heldMs: z.number().nonnegative().nullable(),
  ttlMs: z.number().positive().nullable(),
  remainingMs: z.number().nonnegative().nullable(),
  leaseUsedRatio: z.number().min(0).max(1).nullable(),
  waiters: z.number().int().nonnegative().nullable(),
  waiterQueue: z.array(waiterRowSchema).nullable(),
  nearExpiry: z.boolean().nullable(),
  observedAt: z.number(),
});

export const lsOutputSchema = z.array(lockRowSchema);
