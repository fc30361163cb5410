// Dashboard API tokens: created by an admin, shown once, kept only as a hash,
// revocable, always with an expiry. The dashboard's auth checks and the admin
// endpoints call these; nothing else reads the table.
import { createHash, randomBytes } from 'node:crypto';
import { LockscopeError, ROLES, type Role } from '@lockscope/core';
import type { ApiToken } from './generated/postgresql/client/client.js';
import { readStore } from './queries/query-db.js';
import type { Store } from './store.js';

/** Every token starts with this, so secret scanners and people recognise one. */
export const API_TOKEN_PREFIX = 'lsk_';

/** A token as the API shows it: never the secret, never its hash. */
export interface ApiTokenView {
  id: string;
  name: string;
  role: Role;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
  lastUsedAt: number | null;
}

export interface CreateApiTokenInput {
  /** Shown as the actor in audit records. */
  name: string;
  role: Role;
  createdBy: string;
  expiresAt: number;
  at?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

function view(row: ApiToken): ApiTokenView {
  return {
    id: row.id.toString(),
    name: row.name,
    role: (ROLES as readonly string[]).includes(row.role) ? (row.role as Role) : 'viewer',
    createdBy: row.createdBy,
    createdAt: Number(row.createdAt),
    expiresAt: Number(row.expiresAt),
    revokedAt: row.revokedAt === null ? null : Number(row.revokedAt),
    revokedBy: row.revokedBy,
    lastUsedAt: row.lastUsedAt === null ? null : Number(row.lastUsedAt),
  };
}

/** The secret has 256 random bits, so a fast hash is enough: there is nothing to brute-force. */
function hashOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function tokenId(id: string): bigint {
  if (!/^[1-9][0-9]{0,18}$/.test(id)) throw new LockscopeError('BAD_REQUEST', `${JSON.stringify(id.slice(0, 40))} is not a token id (a positive whole number).`);
  return BigInt(id);
}

/** Creates a token; the returned `secret` is the only time the value exists outside the caller. */
export async function createApiToken(store: Store, input: CreateApiTokenInput): Promise<{ token: ApiTokenView; secret: string }> {
  if (!NAME.test(input.name)) throw new LockscopeError('BAD_REQUEST', 'A token name is 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit.');
  if (!(ROLES as readonly string[]).includes(input.role)) throw new LockscopeError('BAD_REQUEST', `role must be one of ${ROLES.join(', ')}`);
  const at = input.at ?? Date.now();
  if (!Number.isSafeInteger(input.expiresAt) || input.expiresAt <= at) throw new LockscopeError('BAD_REQUEST', 'A token needs an expiry in the future.');
  const secret = `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const row = await readStore('API token', () =>
    store.serialized((prisma) =>
      prisma.apiToken.create({
        data: { name: input.name, role: input.role, hash: hashOf(secret), createdBy: input.createdBy, createdAt: BigInt(at), expiresAt: BigInt(input.expiresAt) },
      }),
    ),
  );
  return { token: view(row), secret };
}

/**
 * The live token a presented value belongs to, or null when it is unknown,
 * revoked or expired (the caller answers 401 the same way for all three, so a
 * guesser learns nothing). Lookup is by hash: the comparison happens in the
 * database index, never on the secret itself.
 */
export async function verifyApiToken(store: Store, presented: string, at = Date.now()): Promise<ApiTokenView | null> {
  if (!presented.startsWith(API_TOKEN_PREFIX) || presented.length > 200) return null;
  const row = await readStore('API token', () => store.prisma.apiToken.findUnique({ where: { hash: hashOf(presented) } }));
  if (!row || row.revokedAt !== null || Number(row.expiresAt) <= at) return null;
  // Last use is a hint for admins cleaning up; a lost update here costs nothing.
  await store.serialized((prisma) => prisma.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: BigInt(at) } })).catch(() => {});
  return view(row);
}

/** Newest first, revoked and expired ones included (they stay for the audit trail). */
export async function listApiTokens(store: Store): Promise<ApiTokenView[]> {
  const rows = await readStore('API tokens', () => store.prisma.apiToken.findMany({ orderBy: { id: 'desc' }, take: 1_000 }));
  return rows.map(view);
}

/** Revokes a token; revoking one already revoked keeps the first revocation. */
export async function revokeApiToken(store: Store, input: { id: string; by: string; at?: number }): Promise<ApiTokenView> {
  const id = tokenId(input.id);
  const at = input.at ?? Date.now();
  const row = await readStore('API token', () => store.serialized(async (prisma) => {
    const found = await prisma.apiToken.findUnique({ where: { id } });
    if (!found) throw new LockscopeError('NOT_FOUND', `No API token with id ${input.id}.`);
    if (found.revokedAt !== null) return found;
    return prisma.apiToken.update({ where: { id }, data: { revokedAt: BigInt(at), revokedBy: input.by } });
  }));
  return view(row);
}
