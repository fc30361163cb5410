-- DropIndex
DROP INDEX "Event_lockId_at_idx";
