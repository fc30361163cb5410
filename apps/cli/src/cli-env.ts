import { hostname, userInfo } from 'node:os';
import { z } from 'zod';

// The environment is read once, here, at start-up; nothing else reads process.env.
const envSchema = z.object({
  LOCKSCOPE_CONFIG: z.string().min(1).optional(),
  DATABASE_URL: z.string().min(1).optional(),
  XDG_CONFIG_HOME: z.string().min(1).optional(),
  /** Overrides the OS user name recorded in audit records (CI jobs, sudo). */
  LOCKSCOPE_ACTOR: z.string().min(1).optional(),
});

export type CliEnv = z.output<typeof envSchema> & { user: string; host: string };

let cached: CliEnv | null = null;

export function cliEnv(): CliEnv {
  if (cached) return cached;
  const parsed = envSchema.parse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== '')));
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (containers): keep "unknown"; --actor names the person.
  }
  cached = { ...parsed, user, host: hostname() };
  return cached;
}
