-- Over-the-air updates (web admin, `lectern_admin::releases`; docs/ota.md).

-- An uploaded bundle, kept as `<data_dir>/releases/<id>.raucb`. `signature`: `verified` (checked
-- with `rauc info --keyring`) or `unchecked` (accepted without a check because `ota.allow_unsigned`
-- was set: development only).
CREATE TABLE ota_releases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    version     TEXT NOT NULL UNIQUE,
    notes       TEXT NOT NULL DEFAULT '',
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    signature   TEXT NOT NULL CHECK (signature IN ('verified', 'unchecked')),
    uploaded_at INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL
);

-- A staged rollout of a release: rings opened one at a time (`ring`, from 0), paused by itself when
-- more than `max_failure_percent` of a ring failed.
CREATE TABLE ota_rollouts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id          INTEGER NOT NULL REFERENCES ota_releases(id),
    rings               INTEGER NOT NULL,
    ring                INTEGER NOT NULL DEFAULT 0,
    state               TEXT NOT NULL CHECK (state IN ('running', 'paused', 'done')),
    paused_reason       TEXT,
    max_failure_percent INTEGER NOT NULL CHECK (max_failure_percent BETWEEN 0 AND 100),
    created_at          INTEGER NOT NULL,
    created_by          TEXT NOT NULL
);

-- Each box of a rollout: its ring and where it is (`phase` NULL until its ring opens, then a
-- `lectern_proto::update::UpdatePhase` name).
CREATE TABLE ota_rollout_boxes (
    rollout_id INTEGER NOT NULL REFERENCES ota_rollouts(id) ON DELETE CASCADE,
    device_id  TEXT NOT NULL,
    ring       INTEGER NOT NULL,
    phase      TEXT,
    detail     TEXT,
    bytes      INTEGER,
    boots      INTEGER,
    updated_at INTEGER,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX ota_rollout_boxes_device ON ota_rollout_boxes(device_id);

-- When a site's boxes may reboot into a new release, local wall-clock minutes in the hub's zone
-- (`building` '' is every building without its own row). Default without any row: 02:00–05:00.
CREATE TABLE ota_windows (
    building     TEXT PRIMARY KEY,
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER NOT NULL CHECK (end_minute BETWEEN 0 AND 1439)
);
