-- Node and group secrets. `content` is sealed with the key in [FILES] KEYFILE
-- (see src/secrets.rs); the database alone never reveals it.
CREATE TABLE nodesecrets (
    id INTEGER PRIMARY KEY,
    nodeid INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    path TEXT,
    UNIQUE (nodeid, name)
);

CREATE TABLE groupsecrets (
    id INTEGER PRIMARY KEY,
    groupid INTEGER NOT NULL REFERENCES "group"(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    path TEXT,
    UNIQUE (groupid, name)
);
