-- CreateTable
CREATE TABLE "Source" (
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "connected" BOOLEAN NOT NULL DEFAULT false,
    "lastError" TEXT,
    "lastEventAt" BIGINT,
    "lastSeenAt" BIGINT,
    "ingestLagMs" INTEGER,
    "resumeRevision" TEXT,
    "lockCount" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" BIGINT NOT NULL,

    CONSTRAINT "Source_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "Lock" (
    "id" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "rawKey" TEXT NOT NULL,
    "dialect" TEXT NOT NULL,
    "held" BOOLEAN NOT NULL DEFAULT false,
    "holder" TEXT,
    "token" TEXT,
    "acquiredAt" BIGINT,
    "lastRenewedAt" BIGINT,
    "ttlMs" INTEGER,
    "expiresAt" BIGINT,
    "nearExpiryAt" BIGINT,
    "waiters" INTEGER NOT NULL DEFAULT 0,
    "waiterQueue" TEXT,
    "holdId" TEXT,
    "trackerState" TEXT,
    "firstSeenAt" BIGINT NOT NULL,
    "lastChangeAt" BIGINT NOT NULL,
    "acquisitions" INTEGER NOT NULL DEFAULT 0,
    "expirations" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "Lock_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Hold" (
    "id" BIGSERIAL NOT NULL,
    "lockId" TEXT NOT NULL,
    "holdKey" TEXT NOT NULL,
    "holder" TEXT,
    "token" TEXT,
    "acquiredAt" BIGINT NOT NULL,
    "endedAt" BIGINT NOT NULL,
    "heldMs" INTEGER NOT NULL,
    "ttlMs" INTEGER,
    "waitMs" INTEGER,
    "renewals" INTEGER NOT NULL DEFAULT 0,
    "maxLeaseUsed" DOUBLE PRECISION,
    "nearExpiry" BOOLEAN NOT NULL DEFAULT false,
    "endReason" TEXT NOT NULL,
    "approximate" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Hold_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Event" (
    "id" BIGSERIAL NOT NULL,
    "lockId" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "at" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "holder" TEXT,
    "token" TEXT,
    "ttlMs" INTEGER,
    "valueMs" INTEGER,
    "revision" TEXT,
    "detail" TEXT,

    CONSTRAINT "Event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Rollup" (
    "lockId" TEXT NOT NULL,
    "bucket" BIGINT NOT NULL,
    "source" TEXT NOT NULL,
    "acquisitions" INTEGER NOT NULL DEFAULT 0,
    "waitedAcquisitions" INTEGER NOT NULL DEFAULT 0,
    "releases" INTEGER NOT NULL DEFAULT 0,
    "expirations" INTEGER NOT NULL DEFAULT 0,
    "nearExpiries" INTEGER NOT NULL DEFAULT 0,
    "waitersMax" INTEGER NOT NULL DEFAULT 0,
    "waitersSum" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "waitersSamples" INTEGER NOT NULL DEFAULT 0,
    "acqLatencySketch" BYTEA,
    "holdTimeSketch" BYTEA,

    CONSTRAINT "Rollup_pkey" PRIMARY KEY ("lockId","bucket")
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" BIGSERIAL NOT NULL,
    "rule" TEXT NOT NULL,
    "lockId" TEXT,
    "source" TEXT NOT NULL,
    "lockName" TEXT,
    "state" TEXT NOT NULL,
    "startedAt" BIGINT NOT NULL,
    "resolvedAt" BIGINT,
    "value" DOUBLE PRECISION,
    "threshold" DOUBLE PRECISION,
    "message" TEXT NOT NULL,
    "ackedAt" BIGINT,
    "ackedBy" TEXT,
    "silencedUntil" BIGINT,
    "openKey" TEXT,

    CONSTRAINT "Alert_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Delivery" (
    "id" BIGSERIAL NOT NULL,
    "alertId" BIGINT NOT NULL,
    "webhook" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "at" BIGINT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status" INTEGER,
    "ok" BOOLEAN NOT NULL,
    "error" TEXT,

    CONSTRAINT "Delivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditRecord" (
    "id" BIGSERIAL NOT NULL,
    "at" BIGINT NOT NULL,
    "actor" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "lockName" TEXT NOT NULL,
    "holder" TEXT,
    "token" TEXT,
    "reason" TEXT NOT NULL,
    "result" TEXT NOT NULL,
    "detail" TEXT,

    CONSTRAINT "AuditRecord_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Lock_source_name_idx" ON "Lock"("source", "name");

-- CreateIndex
CREATE INDEX "Lock_held_idx" ON "Lock"("held");

-- CreateIndex
CREATE UNIQUE INDEX "Lock_source_rawKey_key" ON "Lock"("source", "rawKey");

-- CreateIndex
CREATE INDEX "Hold_lockId_endedAt_idx" ON "Hold"("lockId", "endedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Hold_lockId_holdKey_key" ON "Hold"("lockId", "holdKey");

-- CreateIndex
CREATE INDEX "Event_lockId_at_idx" ON "Event"("lockId", "at");

-- CreateIndex
CREATE INDEX "Event_at_idx" ON "Event"("at");

-- CreateIndex
CREATE INDEX "Rollup_bucket_idx" ON "Rollup"("bucket");

-- CreateIndex
CREATE UNIQUE INDEX "Alert_openKey_key" ON "Alert"("openKey");

-- CreateIndex
CREATE INDEX "Alert_state_startedAt_idx" ON "Alert"("state", "startedAt");

-- CreateIndex
CREATE INDEX "Alert_lockId_startedAt_idx" ON "Alert"("lockId", "startedAt");

-- CreateIndex
CREATE INDEX "Delivery_alertId_idx" ON "Delivery"("alertId");

-- CreateIndex
CREATE INDEX "AuditRecord_source_lockName_at_idx" ON "AuditRecord"("source", "lockName", "at");
