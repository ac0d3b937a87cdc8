-- Weekly lessons per configured room (web admin, `lectern-admin`). The hub's scheduler sends the
-- room's box GoLive when one starts and End when it ends. Times are minutes after local midnight,
-- where "local" is UTC plus `utc_offset_min` as given when the lesson was saved (the hub does not
-- know its time zone; see web-admin/README.md).
CREATE TABLE admin_schedules (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- a lesson goes with its room
    room_id        TEXT NOT NULL REFERENCES admin_rooms(id) ON DELETE CASCADE,
    -- 0 = Monday … 6 = Sunday
    weekday        INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_min      INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    end_min        INTEGER NOT NULL CHECK (end_min BETWEEN 1 AND 1440 AND end_min > start_min),
    utc_offset_min INTEGER NOT NULL CHECK (utc_offset_min BETWEEN -720 AND 840),
    teacher        TEXT NOT NULL,
    title          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE INDEX admin_schedules_room ON admin_schedules(room_id);
