-- AlterTable
ALTER TABLE "AuditRecord" ADD COLUMN "role" TEXT;
ALTER TABLE "AuditRecord" ADD COLUMN "target" TEXT;

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" BIGINT NOT NULL,
    "expiresAt" BIGINT NOT NULL,
    "revokedAt" BIGINT,
    "revokedBy" TEXT,
    "lastUsedAt" BIGINT
);

-- CreateIndex
CREATE INDEX "AuditRecord_actor_at_idx" ON "AuditRecord"("actor", "at");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_hash_key" ON "ApiToken"("hash");
