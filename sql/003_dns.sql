-- Extra DNS records per network (`/config/dns/{network}`) and daemon settings
-- that must survive restarts (the DNS serial).
CREATE TABLE dns (
    id INTEGER PRIMARY KEY,
    networkid INTEGER NOT NULL REFERENCES network(id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    ipaddress TEXT NOT NULL,
    UNIQUE (networkid, host)
);

CREATE TABLE setting (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
