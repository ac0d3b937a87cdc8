-- PostgreSQL twin of hub/migrations/0018_room_epochs.sql (docs/cluster.md): BIGINT for INTEGER,
-- byte-order ("C") collation on text.
-- The lease fence (issue 20, docs/cluster.md "The fence"): per room, the highest lease epoch any
-- node was granted and recorded, and that lease's token (`<node>#<epoch>`). A node owns a room
-- only once its epoch is recorded here (compare-and-set: only a higher epoch replaces a row), and
-- the writes only the owner may make (a lesson opened or closed) go through only while no later
-- epoch is recorded. A hub on its own never writes a row: its writes carry epoch 0 and pass.
CREATE TABLE room_epochs (
    room_id     TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    epoch       BIGINT NOT NULL,
    token       TEXT COLLATE "C" NOT NULL,
    updated_at  BIGINT NOT NULL
);
