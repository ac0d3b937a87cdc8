-- Timetable slots in real time zones (issue 23): `zone` is the IANA name their wall-clock times
-- are in. Slots saved with a fixed UTC offset before are decided once at the hub's start-up
-- (`lectern_admin::schedule::migrate_offsets`): those whose offset is the hub's zone's take it, the
-- others keep `zone` NULL ("zone needed": they do not run until an admin gives them one).
ALTER TABLE admin_schedules ADD COLUMN zone TEXT;
ALTER TABLE admin_schedules ADD COLUMN zone_decided INTEGER NOT NULL DEFAULT 0;
