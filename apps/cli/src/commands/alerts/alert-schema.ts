import { z } from 'zod';

/** `lockctl alerts --json` element: the store's AlertView, every field always present. */
export const alertSchema = z.strictObject({
  id: z.string().regex(/^[1-9]\d*$/),
  rule: z.string(),
  state: z.enum(['firing', 'resolved']),
  source: z.string(),
  lockId: z.string().nullable(),
  lockName: z.string().nullable(),
  startedAt: z.number().int(),
  resolvedAt: z.number().int().nullable(),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  message: z.string(),
  ackedAt: z.number().int().nullable(),
  ackedBy: z.string().nullable(),
  silencedUntil: z.number().int().nullable(),
});

export type AlertJson = z.output<typeof alertSchema>;

export const alertsOutputSchema = z.array(alertSchema);
