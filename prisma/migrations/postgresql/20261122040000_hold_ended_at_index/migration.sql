-- CreateIndex
CREATE INDEX "Hold_endedAt_idx" ON "Hold"("endedAt");
