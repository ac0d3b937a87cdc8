-- PostgreSQL twin of hub/migrations/0008_schedule_zones.sql (docs/cluster.md): BIGINT for INTEGER, identity
-- columns for AUTOINCREMENT, BOOLEAN for flags, BYTEA for BLOB, and byte-order ("C") collation
-- on text so rows sort as they do in SQLite.
-- Timetable slots in real time zones (issue 23): `zone` is the IANA name their wall-clock times
-- are in. Slots saved with a fixed UTC offset before are decided once at the hub's start-up
-- (`lectern_admin::schedule::migrate_offsets`): those whose offset is the hub's zone's take it, the
-- others keep `zone` NULL ("zone needed": they do not run until an admin gives them one).
ALTER TABLE admin_schedules ADD COLUMN zone TEXT COLLATE "C";
ALTER TABLE admin_schedules ADD COLUMN zone_decided BOOLEAN NOT NULL DEFAULT FALSE;
