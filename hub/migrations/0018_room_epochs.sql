-- The lease fence (issue 20, docs/cluster.md "The fence"): per room, the highest lease epoch any
-- node was granted and recorded, and that lease's token (`<node>#<epoch>`). A node owns a room
-- only once its epoch is recorded here (compare-and-set: only a higher epoch replaces a row), and
-- the writes only the owner may make (a lesson opened or closed) go through only while no later
-- epoch is recorded. A hub on its own never writes a row: its writes carry epoch 0 and pass.
CREATE TABLE room_epochs (
    room_id     TEXT PRIMARY KEY NOT NULL,
    epoch       INTEGER NOT NULL,
    token       TEXT NOT NULL,
    -- unix ms of the last change, for people reading the table
    updated_at  INTEGER NOT NULL
);
