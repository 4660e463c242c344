-- High availability: what the master sends each other controller (one row
-- per change and peer, written in the change's own transaction, deleted once
-- the peer acknowledged it), what each controller applied from each sender
-- (exactly once), and this controller's role.
CREATE TABLE journal (
    -- AUTOINCREMENT: ids never repeat, even after the journal emptied, so a
    -- peer's "applied through" mark stays meaningful.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sendfor TEXT NOT NULL,
    sendby TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX journal_for ON journal(sendfor, id);
CREATE TABLE journalapplied (
    sendby TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
CREATE TABLE hastate (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    master INTEGER NOT NULL,
    insync INTEGER NOT NULL DEFAULT 1,
    overrule INTEGER NOT NULL DEFAULT 0,
    updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
