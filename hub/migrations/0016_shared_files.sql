-- Files shared in a lesson's chat (issue 22): one row per file, its bytes kept through the same
-- storage as recordings under `object` (a name the hub made). Keyed by the lesson
-- (`{room}.{started_ms}`, 0010); a file shared in a breakout group names its round and group, and
-- is shown only in that group's chat. Times are unix milliseconds.
CREATE TABLE shared_files (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    lesson_id        TEXT NOT NULL,
    room_id          TEXT NOT NULL,
    breakout_round   INTEGER,
    breakout_group   INTEGER,
    uploader_subject TEXT NOT NULL,
    uploader_name    TEXT NOT NULL,
    -- teacher | student
    uploader_role    TEXT NOT NULL,
    -- the uploader's name of the file, cleaned (plain text)
    name             TEXT NOT NULL,
    -- the storage object's name within the lesson
    object           TEXT NOT NULL,
    size             INTEGER NOT NULL,
    -- hex SHA-256 of the bytes
    sha256           TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE INDEX shared_files_lesson ON shared_files(lesson_id, id);
CREATE INDEX shared_files_room ON shared_files(room_id, id);
