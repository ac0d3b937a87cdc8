-- Retention and legal hold of recordings (issue 21, docs/recording.md). A room keeps its
-- lessons' recordings `retention_days` after the lesson ended (NULL: the hub's `[recording]
-- retention_days`; 0: forever). A lesson under legal hold is never deleted, whatever its room
-- says; an admin sets and clears it (audited). The retention sweeper deletes expired files from
-- storage and marks their rows `deleted_at` (unix ms), keeping the rows as the record of what was.
ALTER TABLE admin_rooms ADD COLUMN retention_days INTEGER;
ALTER TABLE lessons ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recordings ADD COLUMN deleted_at INTEGER;
CREATE INDEX lessons_ended ON lessons(ended_at);
