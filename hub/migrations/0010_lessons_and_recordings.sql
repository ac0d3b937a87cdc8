-- Lesson occurrences and their recordings (issue 21). A lesson is one occurrence of a room's
-- class: it opens when the first person is admitted and closes when a teacher ends it,
-- `POST /api/rooms/{room}/end` is called, the timetable slot ends or the room has been empty for
-- 10 minutes. Its id (`{room}.{started_ms}`) is made by the room, so other tables (whiteboards,
-- recordings) can key on it before this row is written. Times are unix milliseconds.
CREATE TABLE lessons (
    id               TEXT PRIMARY KEY NOT NULL,
    room_id          TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    -- teacher | api | timetable | empty | restart
    end_reason       TEXT,
    -- the room's policy when the lesson started: off | on_request | always
    recording_policy TEXT NOT NULL DEFAULT 'off' CHECK (recording_policy IN ('off', 'on_request', 'always')),
    -- off: never recorded; recording: now; stopped: was recorded, not now
    recording_state  TEXT NOT NULL DEFAULT 'off' CHECK (recording_state IN ('off', 'recording', 'stopped'))
);

CREATE INDEX lessons_room ON lessons(room_id, started_at);

-- The files of a lesson's recording: written by the room's box (or the hub), uploaded in chunks.
CREATE TABLE recordings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    lesson_id    TEXT NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    -- camera | slides | audio | ...
    kind         TEXT NOT NULL,
    -- the box's own name of the file (unique per lesson): a retried create finds the same row
    name         TEXT NOT NULL,
    -- recording | uploading | ready
    state        TEXT NOT NULL CHECK (state IN ('recording', 'uploading', 'ready')),
    -- the size the uploader announced, and how much of it the hub holds
    size         INTEGER,
    received     INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER,
    sha256       TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (lesson_id, name)
);

-- The admin's per-room recording setting becomes a policy; `recording` (0/1) stays for old
-- readers and follows it (1 unless off).
ALTER TABLE admin_rooms ADD COLUMN recording_policy TEXT NOT NULL DEFAULT 'off'
    CHECK (recording_policy IN ('off', 'on_request', 'always'));
UPDATE admin_rooms SET recording_policy = CASE WHEN recording THEN 'always' ELSE 'off' END;
