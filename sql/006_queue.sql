-- Queued work (power control now, image work next): a job is a row, so a
-- restart loses none. status: queued -> running -> done | failed.
CREATE TABLE queue (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    username_initiator TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL DEFAULT (datetime('now')),
    subsystem TEXT NOT NULL,
    task TEXT NOT NULL,
    param TEXT NOT NULL DEFAULT '',
    -- What the job works on (an image, a hostlist): jobs on the same target
    -- run one at a time, in order.
    target TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL DEFAULT 'maintask',
    status TEXT NOT NULL DEFAULT 'queued',
    started TEXT,
    finished TEXT
);
CREATE INDEX queue_status ON queue(status, id);
CREATE INDEX queue_request ON queue(request_id);

-- Per-node outcomes of control jobs, and who asked.
ALTER TABLE status ADD COLUMN node TEXT;
ALTER TABLE status ADD COLUMN outcome TEXT;
ALTER TABLE status ADD COLUMN username_initiator TEXT NOT NULL DEFAULT '';
CREATE INDEX status_created ON status(created, id);

-- How a BMC is driven: 'ipmi' (ipmitool -I lanplus) or 'redfish' (HTTPS), and
-- on which port (empty: the protocol's own, 623 or 443).
ALTER TABLE bmcsetup ADD COLUMN protocol TEXT;
ALTER TABLE bmcsetup ADD COLUMN port INTEGER;
