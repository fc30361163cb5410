import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { AuditInput, Store } from '@lockscope/store';

// When the store is down during an incident the audit record must not be
// lost: it goes to a local JSONL file and is shipped by the next lockctl run
// that reaches the store.

const SPOOL_FILE = 'audit-spool.jsonl';

const auditSchema = z.object({
  at: z.number(),
  actor: z.string(),
  host: z.string(),
  action: z.string(),
  source: z.string(),
  lockName: z.string(),
  holder: z.string().nullable().optional(),
  token: z.string().nullable().optional(),
  reason: z.string(),
  result: z.string(),
  detail: z.string().nullable().optional(),
  role: z.string().nullable().optional(),
  target: z.string().nullable().optional(),
});

export function spoolDir(stateDir: string): string {
  return join(stateDir, '.lockscope');
}

export function spoolPath(stateDir: string): string {
  return join(spoolDir(stateDir), SPOOL_FILE);
}

/** Appends one record; one line per write so a crash loses at most that line. */
export function appendToSpool(stateDir: string, record: AuditInput): string {
  mkdirSync(spoolDir(stateDir), { recursive: true, mode: 0o700 });
  const path = spoolPath(stateDir);
  appendFileSync(path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  return path;
}

export function readSpool(stateDir: string): AuditInput[] {
  const path = spoolPath(stateDir);
  if (!existsSync(path)) return [];
  return parseLines(readFileSync(path, 'utf8')).records;
}

function parseLines(text: string): { records: AuditInput[]; bad: string[] } {
  const records: AuditInput[] = [];
  const bad: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(auditSchema.parse(JSON.parse(line)));
    } catch {
      bad.push(line);
    }
  }
  return { records, bad };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ShipResult {
  shipped: number;
  /** Lines that were not audit records, moved aside to audit-spool.rejected.jsonl. */
  rejected: number;
}

/**
 * Ships spooled records to the store. The spool is first renamed to a file
 * owned by this process, so two lockctl runs never ship the same record twice;
 * claims left by a crashed run are picked up. Records the store refuses go back
 * to the spool for the next run.
 */
export async function shipSpool(stateDir: string, store: Pick<Store, 'recordAudit'>): Promise<ShipResult> {
  const dir = spoolDir(stateDir);
  if (!existsSync(dir)) return { shipped: 0, rejected: 0 };
  const claims: string[] = [];
  const claimName = () => join(dir, `${SPOOL_FILE}.${process.pid}.${claims.length}.shipping`);
  try {
    const mine = claimName();
    renameSync(spoolPath(stateDir), mine);
    claims.push(mine);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of readdirSync(dir)) {
    const m = /^audit-spool\.jsonl\.(\d+)\.\d+\.shipping$/.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    const taken = claimName();
    try {
      renameSync(join(dir, name), taken);
      claims.push(taken);
    } catch {
      // Another run took it first.
    }
  }
  const records: AuditInput[] = [];
  let rejected = 0;
  for (const claim of claims) {
    const parsed = parseLines(readFileSync(claim, 'utf8'));
    records.push(...parsed.records);
    if (parsed.bad.length > 0) {
      appendFileSync(join(dir, 'audit-spool.rejected.jsonl'), `${parsed.bad.join('\n')}\n`, { mode: 0o600 });
      rejected += parsed.bad.length;
    }
  }
  let shipped = 0;
  try {
    for (const record of records) {
      await store.recordAudit(record);
      shipped++;
    }
  } catch (error) {
    const rest = records.slice(shipped).map((r) => JSON.stringify(r)).join('\n');
    appendFileSync(spoolPath(stateDir), `${rest}\n`, { mode: 0o600 });
    throw error;
  } finally {
    for (const claim of claims) rmSync(claim, { force: true });
  }
  return { shipped, rejected };
}
