-- Buildings and the term calendar (issue 23, part 2; web admin, `lectern-admin`).
--
-- A building is an entity with an optional IANA `zone` (NULL: the hub's `zone`); a room refers to
-- one (`building_id`) and may carry its own `zone` override. A timetable slot saved without a zone
-- takes the room's, else its building's, else the hub's. `admin_rooms.building` stays as the
-- building's name, written by the admin in the same transaction as `building_id` (older readers
-- and the rooms API's `building` field read it); `building_id` is the truth.
CREATE TABLE admin_buildings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    zone       TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Free-text buildings become building rows, one per distinct name.
INSERT INTO admin_buildings (name, zone, created_at, updated_at)
    SELECT building, NULL, MIN(created_at), MIN(created_at) FROM admin_rooms WHERE building != '' GROUP BY building;

ALTER TABLE admin_rooms ADD COLUMN building_id INTEGER REFERENCES admin_buildings(id);
ALTER TABLE admin_rooms ADD COLUMN zone TEXT;
UPDATE admin_rooms SET building_id = (SELECT b.id FROM admin_buildings b WHERE b.name = admin_rooms.building);
CREATE INDEX admin_rooms_building ON admin_rooms(building_id);

-- Terms (lessons run only inside one) and holidays (no lessons), as inclusive local date ranges
-- (`YYYY-MM-DD`, read in each slot's own zone). `building_id` NULL: the whole hub. A room's terms are
-- its building's if that has any, else the hub's; no terms at all: every week is a teaching week.
-- Holidays of the hub and of the room's building both apply.
CREATE TABLE admin_calendar_periods (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('term', 'holiday')),
    building_id INTEGER REFERENCES admin_buildings(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    start_date  TEXT NOT NULL,
    end_date    TEXT NOT NULL CHECK (end_date >= start_date),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One-off changes: `cancel` one occurrence of a slot (its local `date`), `move` one occurrence to
-- `new_date` `start_min`–`end_min` (in the slot's zone), or an `extra` lesson in a room (no slot) on
-- `new_date` in `zone`.
CREATE TABLE admin_lesson_exceptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('cancel', 'move', 'extra')),
    schedule_id INTEGER REFERENCES admin_schedules(id) ON DELETE CASCADE,
    room_id     TEXT NOT NULL REFERENCES admin_rooms(id) ON DELETE CASCADE,
    date        TEXT,
    new_date    TEXT,
    start_min   INTEGER CHECK (start_min BETWEEN 0 AND 1439),
    end_min     INTEGER CHECK (end_min BETWEEN 1 AND 1440 AND end_min > start_min),
    zone        TEXT,
    teacher     TEXT,
    title       TEXT,
    created_at  INTEGER NOT NULL,
    CHECK ((kind = 'extra') = (schedule_id IS NULL)),
    CHECK ((kind = 'extra') = (date IS NULL)),
    CHECK ((kind = 'cancel') = (new_date IS NULL)),
    UNIQUE (schedule_id, date)
);

CREATE INDEX admin_lesson_exceptions_room ON admin_lesson_exceptions(room_id);
