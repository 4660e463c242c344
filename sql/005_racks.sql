-- Racks and the rack placement of devices. `tableref` names the device's table
-- (node, switch, otherdevices, controller); triggers drop a device's placement
-- when the device goes.
CREATE TABLE rack (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL DEFAULT 42,
    "order" TEXT NOT NULL DEFAULT 'ascending',
    room TEXT,
    site TEXT,
    comment TEXT
);

CREATE TABLE rackinventory (
    id INTEGER PRIMARY KEY,
    tableref TEXT NOT NULL,
    tablerefid INTEGER NOT NULL,
    rackid INTEGER REFERENCES rack(id) ON DELETE SET NULL,
    height INTEGER NOT NULL DEFAULT 1,
    position INTEGER,
    orientation TEXT NOT NULL DEFAULT 'front',
    UNIQUE (tableref, tablerefid)
);
CREATE INDEX rackinventory_rack ON rackinventory(rackid);

CREATE TRIGGER node_leaves_rack AFTER DELETE ON node BEGIN
    DELETE FROM rackinventory WHERE tableref = 'node' AND tablerefid = old.id;
END;
CREATE TRIGGER switch_leaves_rack AFTER DELETE ON switch BEGIN
    DELETE FROM rackinventory WHERE tableref = 'switch' AND tablerefid = old.id;
END;
CREATE TRIGGER otherdevices_leaves_rack AFTER DELETE ON otherdevices BEGIN
    DELETE FROM rackinventory WHERE tableref = 'otherdevices' AND tablerefid = old.id;
END;
CREATE TRIGGER controller_leaves_rack AFTER DELETE ON controller BEGIN
    DELETE FROM rackinventory WHERE tableref = 'controller' AND tablerefid = old.id;
END;
