-- PostgreSQL twin of hub/migrations/0017_recording_retention.sql (docs/cluster.md): BIGINT for INTEGER,
-- BOOLEAN for flags.
-- Retention and legal hold of recordings (issue 21, docs/recording.md). A room keeps its
-- lessons' recordings `retention_days` after the lesson ended (NULL: the hub's `[recording]
-- retention_days`; 0: forever). A lesson under legal hold is never deleted, whatever its room
-- says; an admin sets and clears it (audited). The retention sweeper deletes expired files from
-- storage and marks their rows `deleted_at` (unix ms), keeping the rows as the record of what was.
ALTER TABLE admin_rooms ADD COLUMN retention_days BIGINT;
ALTER TABLE lessons ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE recordings ADD COLUMN deleted_at BIGINT;
CREATE INDEX lessons_ended ON lessons(ended_at);
