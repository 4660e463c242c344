-- IPAM: per network, an address below which nothing is free (`floor`), so
-- handing out the next address reads only the addresses at or above it
-- instead of every address of the network.
--
-- The allocator raises the floor after taking the lowest free address, and
-- only when `releases` still has the value it read with the floor: every
-- address given back (deleted, moved, or its owner deleted: foreign-key
-- cascades fire these triggers too) lowers the floor and bumps `releases`, so
-- an allocator that read the addresses before a release never raises the
-- floor over the released one. A change to the network itself (range,
-- gateway, DHCP pool) resets the floor. A row the triggers create knows
-- nothing below: floor 0. Derived data, not among the tables HA compares.
CREATE TABLE ipamfloor (
    networkid INTEGER PRIMARY KEY,
    floor INTEGER NOT NULL,
    releases INTEGER NOT NULL
);

CREATE TRIGGER ipamfloor_release AFTER DELETE ON ipaddress
WHEN OLD.ipnum IS NOT NULL
BEGIN
    INSERT INTO ipamfloor (networkid, floor, releases) VALUES (OLD.networkid, 0, 1)
    ON CONFLICT (networkid) DO UPDATE
    SET floor = MIN(floor, OLD.ipnum), releases = releases + 1;
END;

-- Only a real move: an UPDATE that sets the same address (an interface
-- update keeping its address) gives nothing back.
CREATE TRIGGER ipamfloor_move AFTER UPDATE OF networkid, ipnum ON ipaddress
WHEN OLD.ipnum IS NOT NULL
 AND (NEW.ipnum IS NOT OLD.ipnum OR NEW.networkid IS NOT OLD.networkid)
BEGIN
    INSERT INTO ipamfloor (networkid, floor, releases) VALUES (OLD.networkid, 0, 1)
    ON CONFLICT (networkid) DO UPDATE
    SET floor = MIN(floor, OLD.ipnum), releases = releases + 1;
END;

-- Upserts, so that a pool read before the change (with no row yet) sees
-- `releases` moved and does not raise the floor afterwards.
CREATE TRIGGER ipamfloor_network AFTER UPDATE ON network
BEGIN
    INSERT INTO ipamfloor (networkid, floor, releases) VALUES (NEW.id, 0, 1)
    ON CONFLICT (networkid) DO UPDATE SET floor = 0, releases = releases + 1;
    UPDATE ipamfloor SET floor = 0, releases = releases + 1
    WHERE networkid = OLD.id AND OLD.id IS NOT NEW.id;
END;

-- Network ids can be reused: a new network starts with no floor.
CREATE TRIGGER ipamfloor_network_new AFTER INSERT ON network
BEGIN
    INSERT INTO ipamfloor (networkid, floor, releases) VALUES (NEW.id, 0, 1)
    ON CONFLICT (networkid) DO UPDATE SET floor = 0, releases = releases + 1;
END;

CREATE TRIGGER ipamfloor_network_gone AFTER DELETE ON network
BEGIN
    DELETE FROM ipamfloor WHERE networkid = OLD.id;
END;
