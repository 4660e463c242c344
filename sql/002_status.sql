-- Progress messages of asynchronous requests, polled by request id.
CREATE TABLE status (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    message TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 200,
    read INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX status_request ON status(request_id, read);
