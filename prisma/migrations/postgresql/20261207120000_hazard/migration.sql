-- CreateTable
CREATE TABLE "Hazard" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "lockId" TEXT,
    "lockName" TEXT,
    "since" BIGINT NOT NULL,
    "until" BIGINT,
    "holders" TEXT NOT NULL,
    "tokens" TEXT NOT NULL,
    "detail" TEXT NOT NULL,
    "evidence" TEXT NOT NULL,

    CONSTRAINT "Hazard_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Hazard_since_idx" ON "Hazard"("since");

-- CreateIndex
CREATE INDEX "Hazard_lockId_since_idx" ON "Hazard"("lockId", "since");
