-- What a lesson leaves behind: attendance and poll results, saved when the room empties or the
-- lesson ends, so teachers can export them after the hub let go of the room (or restarted).
CREATE TABLE lesson_reports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id         TEXT NOT NULL,
    saved_at        INTEGER NOT NULL,
    attendance_csv  TEXT NOT NULL,
    attendance_json TEXT NOT NULL,
    polls_csv       TEXT NOT NULL,
    polls_json      TEXT NOT NULL
);

CREATE INDEX lesson_reports_room ON lesson_reports(room_id, saved_at);
