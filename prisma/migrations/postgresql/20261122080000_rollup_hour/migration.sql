-- CreateTable
CREATE TABLE "RollupHour" (
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

    CONSTRAINT "RollupHour_pkey" PRIMARY KEY ("lockId","bucket")
);

-- CreateIndex
CREATE INDEX "RollupHour_bucket_idx" ON "RollupHour"("bucket");
