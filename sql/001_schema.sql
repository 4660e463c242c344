-- luna2d schema, version 1. Column names are the JSON field names of the API;
-- references are `<thing>id` columns. Every reference is a declared foreign key.

CREATE TABLE cluster (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    user TEXT,
    domain_search TEXT,
    nameserver_ip TEXT,
    forwardserver_ip TEXT,
    ntp_server TEXT,
    technical_contacts TEXT,
    provision_method TEXT,
    provision_fallback TEXT,
    debug INTEGER,
    security INTEGER,
    packing_bootpause INTEGER,
    createnode_ondemand INTEGER,
    createnode_macashost INTEGER,
    nextnode_discover INTEGER,
    bind_legacy INTEGER,
    dnssec_enable INTEGER,
    dnssec_validation INTEGER
);

CREATE TABLE controller (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    beacon INTEGER NOT NULL DEFAULT 0,
    shadow INTEGER NOT NULL DEFAULT 0,
    status TEXT,
    vendor TEXT,
    serverport INTEGER
);

CREATE TABLE network (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    network TEXT NOT NULL,
    network_ipv6 TEXT,
    gateway TEXT,
    gateway_ipv6 TEXT,
    gateway_metric INTEGER,
    nameserver_ip TEXT,
    nameserver_ip_ipv6 TEXT,
    ntp_server TEXT,
    dhcp INTEGER,
    dhcp_range_begin TEXT,
    dhcp_range_end TEXT,
    dhcp_range_begin_ipv6 TEXT,
    dhcp_range_end_ipv6 TEXT,
    dhcp_nodes_in_pool INTEGER,
    zone TEXT,
    shared TEXT,
    type TEXT,
    comment TEXT
);

CREATE TABLE osimage (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT,
    kernelfile TEXT,
    initrdfile TEXT,
    imagefile TEXT,
    kernelversion TEXT,
    kernelmodules TEXT,
    kerneloptions TEXT,
    distribution TEXT,
    osrelease TEXT,
    grab_filesystems TEXT,
    grab_exclude TEXT,
    comment TEXT
);

CREATE TABLE osimagetag (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    osimageid INTEGER NOT NULL REFERENCES osimage(id) ON DELETE CASCADE,
    kernelfile TEXT,
    initrdfile TEXT,
    imagefile TEXT,
    kerneloptions TEXT,
    UNIQUE (osimageid, name)
);

CREATE TABLE bmcsetup (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    userid INTEGER,
    username TEXT,
    password TEXT,
    netchannel INTEGER,
    mgmtchannel INTEGER,
    unmanaged_bmc_users TEXT,
    comment TEXT
);

CREATE TABLE switch (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    macaddress TEXT,
    oid TEXT,
    read TEXT,
    rw TEXT,
    uplinkports TEXT,
    vendor TEXT,
    comment TEXT
);

CREATE TABLE otherdevices (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    macaddress TEXT,
    vendor TEXT,
    comment TEXT
);

CREATE TABLE cloud (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT,
    comment TEXT
);

CREATE TABLE "group" (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    domain TEXT,
    osimageid INTEGER REFERENCES osimage(id),
    osimagetagid INTEGER REFERENCES osimagetag(id),
    bmcsetupid INTEGER REFERENCES bmcsetup(id),
    setupbmc INTEGER,
    netboot INTEGER,
    bootmenu INTEGER,
    kerneloptions TEXT,
    ipxe_kernel TEXT,
    roles TEXT,
    scripts TEXT,
    prescript TEXT,
    partscript TEXT,
    postscript TEXT,
    provision_interface TEXT,
    provision_method TEXT,
    provision_fallback TEXT,
    unmanaged_bmc_users TEXT,
    comment TEXT
);

CREATE TABLE groupinterface (
    id INTEGER PRIMARY KEY,
    groupid INTEGER NOT NULL REFERENCES "group"(id) ON DELETE CASCADE,
    interface TEXT NOT NULL,
    networkid INTEGER REFERENCES network(id),
    mtu INTEGER,
    vlanid INTEGER,
    vlan_parent TEXT,
    bond_mode TEXT,
    bond_slaves TEXT,
    dhcp INTEGER,
    options TEXT,
    UNIQUE (groupid, interface)
);
CREATE INDEX groupinterface_network ON groupinterface(networkid);

CREATE TABLE node (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    groupid INTEGER NOT NULL REFERENCES "group"(id),
    osimageid INTEGER REFERENCES osimage(id),
    osimagetagid INTEGER REFERENCES osimagetag(id),
    bmcsetupid INTEGER REFERENCES bmcsetup(id),
    switchid INTEGER REFERENCES switch(id),
    switchport TEXT,
    cloudid INTEGER REFERENCES cloud(id),
    service INTEGER,
    setupbmc INTEGER,
    netboot INTEGER,
    bootmenu INTEGER,
    kerneloptions TEXT,
    ipxe_kernel TEXT,
    roles TEXT,
    scripts TEXT,
    prescript TEXT,
    partscript TEXT,
    postscript TEXT,
    provision_interface TEXT,
    provision_method TEXT,
    provision_fallback TEXT,
    unmanaged_bmc_users TEXT,
    status TEXT,
    vendor TEXT,
    assettag TEXT,
    position TEXT,
    comment TEXT,
    tpm_uuid TEXT,
    tpm_pubkey TEXT,
    tpm_sha256 TEXT
);
CREATE INDEX node_group ON node(groupid);

CREATE TABLE nodeinterface (
    id INTEGER PRIMARY KEY,
    nodeid INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
    interface TEXT NOT NULL,
    macaddress TEXT UNIQUE,
    mtu INTEGER,
    vlanid INTEGER,
    vlan_parent TEXT,
    bond_mode TEXT,
    bond_slaves TEXT,
    options TEXT,
    UNIQUE (nodeid, interface)
);

-- Every address handed out, with exactly one owner. `ipnum` is the IPv4 address
-- as an integer so that IPAM can walk a network in order through the index.
CREATE TABLE ipaddress (
    id INTEGER PRIMARY KEY,
    networkid INTEGER NOT NULL REFERENCES network(id),
    ipaddress TEXT UNIQUE,
    ipnum INTEGER,
    ipaddress_ipv6 TEXT UNIQUE,
    dhcp INTEGER,
    nodeinterfaceid INTEGER UNIQUE REFERENCES nodeinterface(id) ON DELETE CASCADE,
    controllerid INTEGER UNIQUE REFERENCES controller(id) ON DELETE CASCADE,
    switchid INTEGER UNIQUE REFERENCES switch(id) ON DELETE CASCADE,
    otherdevicesid INTEGER UNIQUE REFERENCES otherdevices(id) ON DELETE CASCADE,
    CHECK ((nodeinterfaceid IS NOT NULL) + (controllerid IS NOT NULL)
         + (switchid IS NOT NULL) + (otherdevicesid IS NOT NULL) = 1)
);
CREATE INDEX ipaddress_network ON ipaddress(networkid, ipnum);
