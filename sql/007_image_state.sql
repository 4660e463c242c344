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
