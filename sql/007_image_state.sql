-- The state of OS images as packing and syncing leave it, for
-- /monitor/osimage and /monitor/sync.
CREATE TABLE imagestate (
    kind TEXT NOT NULL,            -- 'osimage' (pack) or 'sync' (HA image sync)
    name TEXT NOT NULL,
    status TEXT NOT NULL,          -- 'packing', 'built', 'failed', ...
    state TEXT NOT NULL,           -- a line for the admin
    updated TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (kind, name)
);

-- The tracker's swarms, written from memory in batches so that a restart
-- does not lose them (src/tracker.rs keeps the live state).
CREATE TABLE trackerpeer (
    info_hash BLOB NOT NULL,
    peer_id BLOB NOT NULL,
    ip TEXT NOT NULL,
    port INTEGER NOT NULL,
    left INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    age INTEGER NOT NULL,          -- seconds since it last announced, when saved
    saved INTEGER NOT NULL,        -- unix time of the save
    PRIMARY KEY (info_hash, peer_id)
);
CREATE TABLE trackertorrent (
    info_hash BLOB PRIMARY KEY,
    downloaded INTEGER NOT NULL
);
