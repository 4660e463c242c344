//! The spec's status codes as one table: one row per (method, path,
//! situation, expected status), run in order against one daemon, every
//! mismatch collected and reported together.
//!
//! Each row cites the line of `luna2-rest-api.txt` that sets its status.
//! Where the spec contradicts itself, or leaves a gap that upstream's
//! behaviour (`upstream-behaviour.md`) fills, the row's `note` says which
//! reading the table takes. Rows run top to bottom and may build on earlier
//! ones; every object a row creates has a name of its own (`ct-…`), so the
//! dependencies are visible in the paths.
//!
//! Beyond the status, every error reply must be JSON with a non-empty
//! `message` (the tracker's bencoded replies excepted), and a few rows check
//! a value the request should have stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::util::{parse_response, raw_request, Daemon, Options, Response};

/// One line of the contract.
struct Row {
    method: &'static str,
    /// The request target; `{rid}` is replaced by the last `request_id` a
    /// reply carried.
    path: &'static str,
    situation: &'static str,
    token: bool,
    /// JSON text (possibly malformed on purpose); `@GET <path>` sends what
    /// that GET answered.
    body: Option<&'static str>,
    /// Sent as the request target byte for byte, on a raw connection.
    raw: Option<&'static [u8]>,
    header: Option<(&'static str, &'static str)>,
    expect: u16,
    /// The line of the spec that says so.
    spec: u32,
    /// Which reading the row takes, where the spec is torn or silent.
    note: &'static str,
    /// Whether an error reply must be JSON with a message.
    json_errors: bool,
    /// A value the request must have left behind.
    check: Option<Check>,
}

type Check = fn(&mut Daemon) -> Result<(), String>;

fn get(path: &'static str, situation: &'static str, expect: u16, spec: u32) -> Row {
    Row {
        method: "GET",
        path,
        situation,
        token: true,
        body: None,
        raw: None,
        header: None,
        expect,
        spec,
        note: "",
        json_errors: true,
        check: None,
    }
}

fn post(
    path: &'static str,
    situation: &'static str,
    body: &'static str,
    expect: u16,
    spec: u32,
) -> Row {
    Row {
        method: "POST",
        body: Some(body),
        ..get(path, situation, expect, spec)
    }
}

/// A GET whose request target is sent as these exact bytes.
fn raw(target: &'static [u8], situation: &'static str, expect: u16, spec: u32) -> Row {
    Row {
        raw: Some(target),
        ..get("(raw)", situation, expect, spec)
    }
}

impl Row {
    /// Without the `x-access-tokens` header.
    fn open(self) -> Row {
        Row {
            token: false,
            ..self
        }
    }
    fn note(self, note: &'static str) -> Row {
        Row { note, ..self }
    }
    fn header(self, name: &'static str, value: &'static str) -> Row {
        Row {
            header: Some((name, value)),
            ..self
        }
    }
    fn not_json(self) -> Row {
        Row {
            json_errors: false,
            ..self
        }
    }
    fn check(self, check: Check) -> Row {
        Row {
            check: Some(check),
            ..self
        }
    }
}

/// Malformed JSON, for the 400 every body endpoint owes (spec line 209).
const BAD_JSON: &str = r#"{"config": {"#;

/// The contract. Spec line numbers in `spec`; the generic 400 for malformed
/// JSON cites line 209, the generic 401 cites line 295 where the endpoint's
/// own section lists none.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        // ---- API usage, version ----
        post("/token", "valid credentials", r#"{"username": "luna", "password": "luna"}"#, 201, 318).open(),
        post("/token", "wrong password", r#"{"username": "luna", "password": "nope"}"#, 401, 320).open(),
        post("/token", "unknown field instead of username", r#"{"user": "luna", "password": "luna"}"#, 400, 322).open(),
        post("/token", "malformed JSON", BAD_JSON, 400, 322).open(),
        get("/version", "no token needed", 200, 348).open(),

        // ---- Booting (no token, spec 437-535) ----
        get("/boot", "menu", 200, 445).open(),
        get("/boot/short", "short menu", 200, 455).open(),
        get("/boot/disk", "local disk", 200, 467).open(),
        get("/boot/search/mac/aa:bb:cc:00:00:01", "known MAC", 200, 477).open(),
        get("/boot/search/mac/aa:bb:cc:0f:0f:0f", "unknown MAC: iPXE failure script", 200, 477).open()
            .note("spec lists only 200; upstream §16.4 serves boot errors as an iPXE script with 200"),
        get("/boot/manual/group/compute/aa:bb:cc:00:00:99", "group with a free or new node", 200, 487).open(),
        get("/boot/manual/hostname/node002/aa:bb:cc:00:00:98", "existing node", 200, 497).open(),
        get("/boot/roles/default", "role shipped by default, token", 200, 510)
            .note("spec/notes name no role; upstream's plugin lookup ends at <root>/default (notes §15), so 'default' must resolve on a fresh install"),
        get("/boot/roles/default", "no token", 401, 503).open(),
        get("/boot/scripts/default", "script shipped by default, token", 200, 523)
            .note("as roles: upstream resolves any name to <root>/default (notes §15)"),
        get("/boot/scripts/default", "no token", 401, 516).open(),
        get("/kickstart/install/node001", "node exists, no token", 200, 535).open(),

        // ---- Raw request lines: errors must still be JSON with a message ----
        raw(b"/config/node/n\xc3\xb6de", "raw UTF-8 bytes in the path: a name no node has", 404, 1167)
            .note("valid UTF-8 taken as the name; what must not happen is no answer or an empty body"),
        raw(b"/config/node/\xff\xfe", "raw invalid UTF-8 bytes in the path", 400, 4889),
        raw(b"/config/node/a b", "a space in the request target", 400, 4889),
        raw(b"/boot/search/mac/aa:bb:cc:dd:ee:\xff", "raw byte in a boot path", 400, 4889),
        raw(b"/config/node/%ff%fe", "percent-encoded invalid UTF-8", 400, 4889),
        raw(b"/config/node/a\tb", "a tab in the request target", 400, 4889),
        raw(b"/config/node/\x01", "a control byte in the request target", 400, 4889),
        raw(b"/config/node?x=\xc3\xa9 y", "raw UTF-8 and a space in the query", 400, 4889),
        raw(b"/boot/search/mac/aa bb", "a space in a boot path", 400, 4889),
        raw(b"/config/node/\xc3\xa9 \xc3\xa9", "raw UTF-8 and a space together", 400, 4889),

        // ---- Groups ----
        get("/config/group", "list", 200, 695),
        get("/config/group", "no token", 401, 697).open(),
        get("/config/group/compute", "exists", 200, 745),
        get("/config/group/compute", "no token", 401, 747).open(),
        get("/config/group/ct-nogroup", "missing", 404, 749),
        get("/config/group/compute/_member", "members", 200, 774),
        get("/config/group/compute/_member", "no token", 401, 776).open(),
        post("/config/group/ct-g1", "create", r#"{"config": {"group": {"ct-g1": {"comment": "contract"}}}}"#, 201, 827),
        post("/config/group/ct-g1", "update", r#"{"config": {"group": {"ct-g1": {"comment": "changed"}}}}"#, 204, 825),
        post("/config/group/ct-g1", "rename by newgroupname", r#"{"config": {"group": {"ct-g1": {"newgroupname": "ct-g1b"}}}}"#, 204, 825),
        post("/config/group/ct-g1b", "no token", r#"{"config": {"group": {"ct-g1b": {"comment": "x"}}}}"#, 401, 829).open(),
        post("/config/group/ct-g1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/group/ct-g1b", "unknown field", r#"{"config": {"group": {"ct-g1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/group/ct-g1b", "empty object: no data", r#"{"config": {"group": {"ct-g1b": {}}}}"#, 400, 4202)
            .note("spec states 'no data' -> 400 for clouds (4202); the brief extends it to every resource"),
        post("/config/group/ct-g1b/_clone", "clone by newgroupname", r#"{"config": {"group": {"ct-g1b": {"newgroupname": "ct-g1c"}}}}"#, 201, 879),
        post("/config/group/ct-g1b/_clone", "no token", r#"{"config": {"group": {"ct-g1b": {"newgroupname": "ct-g1d"}}}}"#, 401, 881).open(),
        post("/config/group/ct-g1b/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/group/ct-g1c/_delete", "delete", 204, 892),
        get("/config/group/ct-g1c/_delete", "already deleted", 404, 896),
        get("/config/group/ct-g1b/_delete", "no token", 401, 894).open(),
        get("/config/group/compute/interfaces", "list", 200, 929),
        get("/config/group/compute/interfaces", "no token", 401, 931).open(),
        post("/config/group/ct-g1b/interfaces", "add a new interface", r#"{"config": {"group": {"ct-g1b": {"interfaces": [{"interface": "ib0", "network": "ib"}]}}}}"#, 201, 968),
        post("/config/group/ct-g1b/interfaces", "update an existing interface", r#"{"config": {"group": {"ct-g1b": {"interfaces": [{"interface": "ib0", "network": "ib", "options": "x"}]}}}}"#, 204, 966),
        post("/config/group/ct-nogroup/interfaces", "missing group", r#"{"config": {"group": {"ct-nogroup": {"interfaces": [{"interface": "ib0", "network": "ib"}]}}}}"#, 404, 972),
        post("/config/group/ct-g1b/interfaces", "no token", r#"{"config": {"group": {"ct-g1b": {"interfaces": [{"interface": "ib0", "network": "ib"}]}}}}"#, 401, 970).open(),
        post("/config/group/ct-g1b/interfaces", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/group/ct-g1b/interfaces", "empty object: no data", r#"{"config": {"group": {"ct-g1b": {}}}}"#, 400, 4202),
        get("/config/group/ct-g1b/interfaces/ib0", "exists", 200, 998),
        get("/config/group/ct-g1b/interfaces/ct-noif", "missing interface", 404, 1002)
            .note("spec: 404 '(group)'; upstream answers 200 with a string (§16.16), a bug we do not copy"),
        get("/config/group/ct-nogroup/interfaces/ib0", "missing group", 404, 1002),
        get("/config/group/ct-g1b/interfaces/ib0", "no token", 401, 1000).open(),
        get("/config/group/ct-g1b/interfaces/ib0/_delete", "delete", 204, 1014),
        get("/config/group/ct-nogroup/interfaces/ib0/_delete", "missing group", 404, 1018),
        get("/config/group/ct-g1b/interfaces/ib0/_delete", "no token", 401, 1016).open(),
        post("/config/group/ct-nogroup/_ospush", "missing group", r#"{"config": {"group": {"ct-nogroup": {"osimage": "compute"}}}}"#, 404, 1048),
        post("/config/group/compute/_ospush", "unknown osimage", r#"{"config": {"group": {"compute": {"osimage": "ct-noimage"}}}}"#, 404, 1048),
        post("/config/group/compute/_ospush", "no token", r#"{"config": {"group": {"compute": {"osimage": "compute"}}}}"#, 401, 1046).open(),
        post("/config/group/compute/_ospush", "malformed JSON", BAD_JSON, 400, 209)
            .note("success (200, queued) pushes over rsync to real nodes: not run here"),

        // ---- Nodes ----
        get("/config/node", "list", 200, 1104),
        get("/config/node", "no token", 401, 1106).open(),
        get("/config/node/node001", "exists", 200, 1163),
        get("/config/node/node001", "no token", 401, 1165).open(),
        get("/config/node/ct-nonode", "missing", 404, 1167),
        post("/config/node/ct-n1", "create", r#"{"config": {"node": {"ct-n1": {"group": "compute"}}}}"#, 201, 1230),
        post("/config/node/ct-n1", "update", r#"{"config": {"node": {"ct-n1": {"comment": "Y29udHJhY3Q="}}}}"#, 204, 1228),
        post("/config/node/ct-n1", "rename by newhostname", r#"{"config": {"node": {"ct-n1": {"newhostname": "ct-n1b"}}}}"#, 204, 1228)
            .note("spec 1173 names newhostname; upstream (§16.1) only newnodename; we take the spec's"),
        post("/config/node/ct-n1b", "no token", r#"{"config": {"node": {"ct-n1b": {"comment": "eA=="}}}}"#, 401, 1232).open(),
        post("/config/node/ct-n1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/node/ct-n1b", "unknown field", r#"{"config": {"node": {"ct-n1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/node/ct-n1b", "empty object: no data", r#"{"config": {"node": {"ct-n1b": {}}}}"#, 400, 4202),
        post("/config/node/ct-n1b", "invalid MAC", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "BOOTIF", "macaddress": "zz:zz:zz"}]}}}}"#, 400, 4889),
        post("/config/node/ct-n1b", "invalid IP", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "BOOTIF", "ipaddress": "10.141.999.1"}]}}}}"#, 400, 4889),
        post("/config/node/ct-n1b/_clone", "clone by newhostname", r#"{"config": {"node": {"ct-n1b": {"newhostname": "ct-n1c"}}}}"#, 201, 1295),
        post("/config/node/ct-n1b/_clone", "no token", r#"{"config": {"node": {"ct-n1b": {"newhostname": "ct-n1d"}}}}"#, 401, 1297).open(),
        post("/config/node/ct-n1b/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/node/ct-n1c/_delete", "delete", 204, 1308),
        get("/config/node/ct-n1c/_delete", "already deleted", 404, 1312)
            .note("spec 1312 says '401 Not Found': the reason names 404, and 401 is for tokens"),
        get("/config/node/ct-n1b/_delete", "no token", 401, 1310).open(),
        get("/config/node/node001/interfaces", "list", 200, 1348)
            .note("spec 1348 says 204 above a body; a reply with content is 200 (error table 4881)"),
        get("/config/node/ct-nonode/interfaces", "missing node", 404, 1352)
            .note("spec 1352 says '401 Not Found': read as 404"),
        get("/config/node/node001/interfaces", "no token", 401, 1350).open(),
        post("/config/node/ct-n1b/interfaces", "add a new interface", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "ib0", "network": "ib"}]}}}}"#, 201, 968)
            .note("node interfaces list only 204 (1389); created is 201 as for group interfaces (968) and nodes (1230)"),
        post("/config/node/ct-n1b/interfaces", "update an existing interface", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "ib0", "network": "ib", "options": "x"}]}}}}"#, 204, 1389),
        post("/config/node/ct-nonode/interfaces", "missing node", r#"{"config": {"node": {"ct-nonode": {"interfaces": [{"interface": "ib0", "network": "ib"}]}}}}"#, 404, 1393),
        post("/config/node/ct-n1b/interfaces", "no token", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "ib0"}]}}}}"#, 401, 1391).open(),
        post("/config/node/ct-n1b/interfaces", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/node/ct-n1b/interfaces", "empty object: no data", r#"{"config": {"node": {"ct-n1b": {}}}}"#, 400, 4202),
        post("/config/node/ct-n1b/interfaces", "invalid MAC", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "ib0", "macaddress": "not-a-mac"}]}}}}"#, 400, 4889),
        post("/config/node/ct-n1b/interfaces", "invalid IP", r#"{"config": {"node": {"ct-n1b": {"interfaces": [{"interface": "ib0", "ipaddress": "10.149.0.300"}]}}}}"#, 400, 4889),
        get("/config/node/ct-n1b/interfaces/ib0", "exists", 200, 1419)
            .note("spec 1419 says 204 above a body: read as 200"),
        get("/config/node/ct-n1b/interfaces/ct-noif", "missing interface", 404, 1423),
        get("/config/node/ct-nonode/interfaces/ib0", "missing node", 404, 1423),
        get("/config/node/ct-n1b/interfaces/ib0", "no token", 401, 1421).open(),
        get("/config/node/ct-n1b/interfaces/ib0/_delete", "delete", 204, 1434),
        get("/config/node/ct-n1b/interfaces/ib0/_delete", "already deleted", 404, 1438),
        get("/config/node/ct-n1b/interfaces/ib0/_delete", "no token", 401, 1436).open(),
        post("/config/node/node001/_osgrab", "queued (dry run)", r#"{"config": {"node": {"node001": {"osimage": "compute", "dryrun": true}}}}"#, 200, 1465)
            .note("only queued; the job itself fails without a reachable node"),
        get("/config/status/{rid}", "poll the grab's request id", 200, 4870),
        post("/config/node/ct-nonode/_osgrab", "missing node", r#"{"config": {"node": {"ct-nonode": {"osimage": "compute"}}}}"#, 404, 1469),
        post("/config/node/node001/_osgrab", "unknown osimage", r#"{"config": {"node": {"node001": {"osimage": "ct-noimage"}}}}"#, 404, 1469),
        post("/config/node/node001/_osgrab", "no token", r#"{"config": {"node": {"node001": {"osimage": "compute"}}}}"#, 401, 1467).open(),
        post("/config/node/node001/_osgrab", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/node/ct-nonode/_ospush", "missing node", r#"{"config": {"node": {"ct-nonode": {"osimage": "compute"}}}}"#, 404, 1497),
        post("/config/node/node001/_ospush", "unknown osimage", r#"{"config": {"node": {"node001": {"osimage": "ct-noimage"}}}}"#, 404, 1497),
        post("/config/node/node001/_ospush", "no token", r#"{"config": {"node": {"node001": {"osimage": "compute"}}}}"#, 401, 1495).open(),
        post("/config/node/node001/_ospush", "malformed JSON", BAD_JSON, 400, 209)
            .note("success (200, queued) rsyncs to a real node: not run here"),

        // ---- Cluster ----
        get("/config/cluster", "show", 200, 1542),
        get("/config/cluster", "no token", 401, 1544).open(),
        post("/config/cluster", "update a configurable item", r#"{"config": {"cluster": {"technical_contacts": "ops@example.org"}}}"#, 204, 1567),
        post("/config/cluster", "modify a controller object", r#"{"config": {"cluster": {"controller": {"ipaddress": "10.141.255.250"}}}}"#, 400, 1569),
        post("/config/cluster", "no token", r#"{"config": {"cluster": {"debug": false}}}"#, 401, 1571).open(),
        post("/config/cluster", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/cluster", "empty object: no data", r#"{"config": {"cluster": {}}}"#, 400, 4202),
        post("/config/cluster", "unknown field", r#"{"config": {"cluster": {"colour": "red"}}}"#, 400, 4889),
        post("/config/cluster", "invalid NTP server IP", r#"{"config": {"cluster": {"ntp_server": "10.141.300.1"}}}"#, 400, 4889),
        get("/config/cluster/export", "export", 200, 1592),
        get("/config/cluster/export", "no token", 401, 1594).open(),
        post("/config/cluster/import", "no token", r#"{"config": {}}"#, 401, 1620).open(),
        post("/config/cluster/import", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/cluster/import", "could not be imported: a table that is not a table", r#"{"config": {"node": "not an object"}}"#, 404, 1622)
            .note("spec 1622: 404 when the import fails; upstream §5.7 answers 404 too"),

        // ---- Networks ----
        get("/config/network", "list", 200, 1665),
        get("/config/network", "no token", 401, 1667).open(),
        get("/config/network/cluster", "exists", 200, 1695),
        get("/config/network/cluster", "no token", 401, 1697).open(),
        get("/config/network/ct-nonet", "missing", 404, 1699),
        post("/config/network/ct-net1", "create", r#"{"config": {"network": {"ct-net1": {"network": "10.70.0.0/24"}}}}"#, 201, 1730),
        post("/config/network/ct-net1", "update", r#"{"config": {"network": {"ct-net1": {"comment": "contract"}}}}"#, 204, 1728)
            .note("spec 1728 says 200; the error table (4881) makes a bare confirmation 204, and the luna CLI accepts only 201/204 for a change (cli-requests.md)"),
        post("/config/network/ct-net1", "rename by newnetname", r#"{"config": {"network": {"ct-net1": {"newnetname": "ct-net1b"}}}}"#, 204, 1728)
            .note("as update: 204, not the 200 of 1728"),
        post("/config/network/ct-net1b", "no token", r#"{"config": {"network": {"ct-net1b": {"comment": "x"}}}}"#, 401, 1732).open(),
        post("/config/network/ct-net1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/network/ct-net1b", "empty object: no data", r#"{"config": {"network": {"ct-net1b": {}}}}"#, 400, 4202),
        post("/config/network/ct-net1b", "unknown field", r#"{"config": {"network": {"ct-net1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/network/ct-net2", "invalid CIDR", r#"{"config": {"network": {"ct-net2": {"network": "10.71.0.0/33"}}}}"#, 400, 4889),
        post("/config/network/ct-net1b", "invalid gateway IP", r#"{"config": {"network": {"ct-net1b": {"gateway": "10.70.0.256"}}}}"#, 400, 4889),
        get("/config/network/cluster/10.141.0.3", "IP in range", 200, 1844),
        get("/config/network/cluster/10.99.0.3", "IP outside the network", 404, 1848),
        get("/config/network/ct-nonet/10.141.0.3", "missing network", 404, 1848),
        get("/config/network/cluster/10.141.0.3", "no token", 401, 1846).open()
            .note("1750 shows no token for this path, 1828 lists 401: we take 1828"),
        get("/config/network/cluster/_member", "taken addresses, no token", 200, 1793).open(),
        get("/config/network/cluster/_nextfreeip", "next free address, no token", 200, 1822).open(),
        get("/config/network/ct-net1b/_delete", "delete", 204, 1744)
            .note("spec 1744 says '201 Created ... when a new object is created', a copy slip; 204 as every delete, and the CLI's remove wants 204"),
        get("/config/network/ct-net1b/_delete", "no token", 401, 1746).open(),

        // ---- BMC setups ----
        get("/config/bmcsetup", "list", 200, 1883),
        get("/config/bmcsetup", "no token", 401, 1885).open(),
        get("/config/bmcsetup/compute/_member", "members", 200, 1910),
        get("/config/bmcsetup/compute/_member", "no token", 401, 1912).open(),
        get("/config/bmcsetup/compute", "exists", 200, 1937),
        get("/config/bmcsetup/compute", "no token", 401, 1939).open(),
        get("/config/bmcsetup/ct-nobmc", "missing", 404, 1941),
        post("/config/bmcsetup/ct-b1", "create", r#"{"config": {"bmcsetup": {"ct-b1": {"username": "admin", "password": "secret"}}}}"#, 201, 1971),
        post("/config/bmcsetup/ct-b1", "update", r#"{"config": {"bmcsetup": {"ct-b1": {"comment": "contract"}}}}"#, 204, 1969)
            .note("spec 1969 says 200 'when updating fields'; 204 for the CLI (cli-requests.md) and the error table (4881)"),
        post("/config/bmcsetup/ct-b1", "rename by newbmcname", r#"{"config": {"bmcsetup": {"ct-b1": {"newbmcname": "ct-b1b"}}}}"#, 204, 1969),
        post("/config/bmcsetup/ct-b1b", "no token", r#"{"config": {"bmcsetup": {"ct-b1b": {"comment": "x"}}}}"#, 401, 1973).open(),
        post("/config/bmcsetup/ct-b1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/bmcsetup/ct-b1b", "empty object: no data", r#"{"config": {"bmcsetup": {"ct-b1b": {}}}}"#, 400, 4202),
        post("/config/bmcsetup/ct-b1b", "unknown field", r#"{"config": {"bmcsetup": {"ct-b1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/bmcsetup/ct-b1b/_clone", "clone by newbmcname", r#"{"config": {"bmcsetup": {"ct-b1b": {"newbmcname": "ct-b1c"}}}}"#, 201, 2007),
        post("/config/bmcsetup/ct-nobmc/_clone", "missing source", r#"{"config": {"bmcsetup": {"ct-nobmc": {"newbmcname": "ct-b1d"}}}}"#, 404, 2011),
        post("/config/bmcsetup/ct-b1b/_clone", "no token", r#"{"config": {"bmcsetup": {"ct-b1b": {"newbmcname": "ct-b1e"}}}}"#, 401, 2009).open(),
        post("/config/bmcsetup/ct-b1b/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/bmcsetup/ct-b1c/_delete", "delete", 204, 2023),
        get("/config/bmcsetup/ct-b1c/_delete", "already deleted", 404, 2027),
        get("/config/bmcsetup/ct-b1b/_delete", "no token", 401, 2025).open(),

        // ---- OS images and tags ----
        get("/config/osimage", "list", 200, 2084),
        get("/config/osimage", "no token", 401, 295).open()
            .note("2084 lists no 401, 296 promises a 'minimal response' without token; upstream (§6) and the rest of /config require one: 401"),
        get("/config/osimage/compute/_member", "members", 200, 2109),
        get("/config/osimage/compute/_member", "no token", 401, 2111).open(),
        get("/config/osimage/compute", "exists", 200, 2147),
        get("/config/osimage/compute", "no token", 401, 295).open(),
        get("/config/osimage/ct-noimage", "missing", 404, 2149),
        post("/config/osimage/ct-i1", "create", r#"{"config": {"osimage": {"ct-i1": {"distribution": "redhat", "comment": "contract"}}}}"#, 201, 2190),
        post("/config/osimage/ct-i1", "update", r#"{"config": {"osimage": {"ct-i1": {"comment": "changed"}}}}"#, 204, 2188),
        post("/config/osimage/ct-i1", "rename by newosimage", r#"{"config": {"osimage": {"ct-i1": {"newosimage": "ct-i1b"}}}}"#, 204, 2229)
            .note("2233's '404 if newosimage is not set' cannot apply to the plain POST, which updates without it (2188)"),
        post("/config/osimage/ct-i1b", "no token", r#"{"config": {"osimage": {"ct-i1b": {"comment": "x"}}}}"#, 401, 2192).open(),
        post("/config/osimage/ct-i1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/osimage/ct-i1b", "empty object: no data", r#"{"config": {"osimage": {"ct-i1b": {}}}}"#, 400, 4202),
        post("/config/osimage/ct-i1b", "unknown field", r#"{"config": {"osimage": {"ct-i1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/osimage/compute/_clone", "clone by newosimage", r#"{"config": {"osimage": {"compute": {"newosimage": "ct-i2"}}}}"#, 201, 2254)
            .note("spec 2254 says 201; upstream answers 200 with a request_id unless nocopy (§11). 201 may carry the request_id"),
        post("/config/osimage/compute/_clone", "newosimage not set (other fields)", r#"{"config": {"osimage": {"compute": {"comment": "copy"}}}}"#, 404, 2258),
        post("/config/osimage/compute/_clone", "newosimage not set (empty object)", r#"{"config": {"osimage": {"compute": {}}}}"#, 404, 2258),
        post("/config/osimage/compute/_clone", "newosimage not set (no object for the image)", r#"{"config": {"osimage": {}}}"#, 404, 2258),
        post("/config/osimage/compute/_clone", "newosimage not set (no body)", "", 404, 2258),
        post("/config/osimage/compute/_clone", "no token", r#"{"config": {"osimage": {"compute": {"newosimage": "ct-i3"}}}}"#, 401, 2256).open(),
        post("/config/osimage/compute/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/osimage/compute/_pack", "queue a pack", 200, 2270)
            .note("spec 2270 says 204, but a queued job answers with a request_id (async section 4845; upstream §11: 200)"),
        get("/config/osimage/ct-noimage/_pack", "missing", 404, 2274),
        get("/config/osimage/compute/_pack", "no token", 401, 2272).open(),
        post("/config/osimage/ct-i1b/kernel", "kernel fields, bare (no pack)", r#"{"config": {"osimage": {"ct-i1b": {"kernelversion": "6.1.0", "bare": true}}}}"#, 204, 2298)
            .note("with a pack queued the answer carries a request_id (200, as _pack); bare is the 204 of 2298"),
        post("/config/osimage/ct-noimage/kernel", "missing", r#"{"config": {"osimage": {"ct-noimage": {"kernelversion": "6.1.0"}}}}"#, 404, 2302),
        post("/config/osimage/ct-i1b/kernel", "no token", r#"{"config": {"osimage": {"ct-i1b": {"kernelversion": "6.1.0"}}}}"#, 401, 2300).open(),
        post("/config/osimage/ct-i1b/kernel", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/osimage/compute/tag", "create a tag", r#"{"config": {"osimage": {"compute": {"tag": "ct-tag1"}}}}"#, 204, 2375),
        post("/config/osimage/ct-noimage/tag", "missing image", r#"{"config": {"osimage": {"ct-noimage": {"tag": "ct-tag1"}}}}"#, 404, 2379),
        post("/config/osimage/compute/tag", "no token", r#"{"config": {"osimage": {"compute": {"tag": "ct-tag2"}}}}"#, 401, 2377).open(),
        post("/config/osimage/compute/tag", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/osimagetag", "list", 200, 2326),
        get("/config/osimagetag", "no token", 401, 295).open(),
        get("/config/osimagetag/compute", "tags of an image", 200, 2352),
        get("/config/osimagetag/ct-noimage", "missing image", 404, 2354),
        get("/config/osimagetag/compute/_member", "members", 200, 2404),
        get("/config/osimagetag/compute/_member", "no token", 401, 2406).open(),
        get("/config/osimage/compute/osimagetag/ct-tag1/_delete", "delete tag", 204, 2417),
        get("/config/osimage/compute/osimagetag/ct-tag1/_delete", "already deleted", 404, 2421),
        get("/config/osimage/compute/osimagetag/fixtag/_delete", "no token", 401, 2419).open(),
        get("/config/osimage/ct-i1b/_delete", "delete", 204, 2203),
        get("/config/osimage/ct-i1b/_delete", "already deleted", 404, 2207),
        get("/config/osimage/compute/_delete", "no token", 401, 2205).open(),

        // ---- Secrets (fixture: node001/fixsecret, compute/fixgsecret) ----
        get("/config/secrets", "list", 200, 2494),
        get("/config/secrets", "no token", 401, 2496).open(),
        post("/config/secrets", "unsupported", r#"{"config": {"secrets": {}}}"#, 400, 2507),
        get("/config/secrets/node/node001", "node's and its group's", 200, 2541),
        get("/config/secrets/node/node001", "no token", 401, 2543).open(),
        get("/config/secrets/node/ct-nonode", "missing node", 404, 2545),
        post("/config/secrets/node/node002", "several secrets, all new", r#"{"config": {"secrets": {"node": {"node002": [{"secretname": "ct-s1", "content": "YQ==", "path": "/etc/a"}, {"secretname": "ct-s2", "content": "Yg==", "path": "/etc/b"}]}}}}"#, 201, 2584),
        post("/config/secrets/node/node002", "one changed", r#"{"config": {"secrets": {"node": {"node002": [{"secretname": "ct-s1", "content": "Yw==", "path": "/etc/a"}]}}}}"#, 204, 2586),
        post("/config/secrets/node/node002", "identical to what is stored", r#"{"config": {"secrets": {"node": {"node002": [{"secretname": "ct-s1", "content": "Yw==", "path": "/etc/a"}, {"secretname": "ct-s2", "content": "Yg==", "path": "/etc/b"}]}}}}"#, 200, 2582),
        post("/config/secrets/node/ct-nonode", "missing node", r#"{"config": {"secrets": {"node": {"ct-nonode": [{"secretname": "ct-s1", "content": "YQ=="}]}}}}"#, 404, 2590),
        post("/config/secrets/node/node002", "no token", r#"{"config": {"secrets": {"node": {"node002": [{"secretname": "ct-s1", "content": "YQ=="}]}}}}"#, 401, 2588).open(),
        post("/config/secrets/node/node002", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/secrets/node/node002", "empty list: no data", r#"{"config": {"secrets": {"node": {"node002": []}}}}"#, 400, 4202),
        get("/config/secrets/node/node001/fixsecret", "exists", 200, 2617)
            .note("spec 2617 says 204 above a body: read as 200 (upstream §5.6 answers 200)"),
        get("/config/secrets/node/node001/ct-nosecret", "missing secret", 404, 2621),
        get("/config/secrets/node/ct-nonode/fixsecret", "missing node", 404, 2621),
        get("/config/secrets/node/node001/fixsecret", "no token", 401, 2619).open(),
        post("/config/secrets/node/node001/fixsecret", "update", r#"{"config": {"secrets": {"node": {"node001": [{"secretname": "fixsecret", "content": "bmV3", "path": "/etc/fix"}]}}}}"#, 204, 2650)
            .note("spec 2650 says 200; a bare confirmation is 204 (4881), as the bulk form's update (2586)"),
        post("/config/secrets/node/ct-nonode/fixsecret", "missing node", r#"{"config": {"secrets": {"node": {"ct-nonode": [{"secretname": "fixsecret", "content": "eA=="}]}}}}"#, 404, 2654),
        post("/config/secrets/node/node001/fixsecret", "no token", r#"{"config": {"secrets": {"node": {"node001": [{"secretname": "fixsecret", "content": "eA=="}]}}}}"#, 401, 2652).open(),
        post("/config/secrets/node/node001/fixsecret", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/secrets/node/node001/fixsecret/_clone", "clone by newsecretname", r#"{"config": {"secrets": {"node": {"node001": [{"secretname": "fixsecret", "newsecretname": "ct-clone1"}]}}}}"#, 201, 2683),
        post("/config/secrets/node/node001/fixsecret/_clone", "newsecretname not set", r#"{"config": {"secrets": {"node": {"node001": [{"secretname": "fixsecret"}]}}}}"#, 404, 2687),
        post("/config/secrets/node/node001/fixsecret/_clone", "newsecretname not set (empty list)", r#"{"config": {"secrets": {"node": {"node001": []}}}}"#, 404, 2687),
        post("/config/secrets/node/node001/fixsecret/_clone", "newsecretname not set (no body)", "", 404, 2687),
        post("/config/secrets/node/node001/fixsecret/_clone", "no token", r#"{"config": {"secrets": {"node": {"node001": [{"secretname": "fixsecret", "newsecretname": "ct-clone2"}]}}}}"#, 401, 2685).open(),
        post("/config/secrets/node/node001/fixsecret/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/secrets/node/node001/ct-clone1/_delete", "delete", 204, 2701),
        get("/config/secrets/node/node001/ct-clone1/_delete", "already deleted", 404, 2705),
        get("/config/secrets/node/node001/fixsecret/_delete", "no token", 401, 2703).open(),
        get("/config/secrets/group/compute", "group's", 200, 2730),
        get("/config/secrets/group/compute", "no token", 401, 2732).open(),
        get("/config/secrets/group/ct-nogroup", "missing group", 404, 2734),
        post("/config/secrets/group/compute", "several secrets, all new", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "ct-gs1", "content": "YQ==", "path": "/etc/a"}, {"secretname": "ct-gs2", "content": "Yg==", "path": "/etc/b"}]}}}}"#, 201, 2763)
            .note("2738-2771 document the update form; 2804-2811 call a POST here 'unsupported' (400): the table reads 400 as the bodiless POST"),
        post("/config/secrets/group/compute", "one changed", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "ct-gs1", "content": "Yw==", "path": "/etc/a"}]}}}}"#, 204, 2765),
        post("/config/secrets/group/compute", "identical to what is stored", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "ct-gs1", "content": "Yw==", "path": "/etc/a"}]}}}}"#, 200, 2761),
        post("/config/secrets/group/ct-nogroup", "missing group", r#"{"config": {"secrets": {"group": {"ct-nogroup": [{"secretname": "ct-gs1", "content": "YQ=="}]}}}}"#, 404, 2769),
        post("/config/secrets/group/compute", "no body: unsupported retrieval", "", 400, 2811),
        post("/config/secrets/group/compute", "no token", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "ct-gs1", "content": "YQ=="}]}}}}"#, 401, 2767).open(),
        post("/config/secrets/group/compute", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/secrets/group/compute/fixgsecret", "exists", 200, 2796)
            .note("spec 2796 says 204 for a query with a body: read as 200"),
        get("/config/secrets/group/compute/ct-nosecret", "missing secret", 404, 2800),
        get("/config/secrets/group/compute/fixgsecret", "no token", 401, 2798).open(),
        post("/config/secrets/group/compute/fixgsecret", "update", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "fixgsecret", "content": "bmV3", "path": "/etc/g"}]}}}}"#, 204, 2835)
            .note("spec 2835 says 200: 204 as for nodes (see 2650)"),
        post("/config/secrets/group/ct-nogroup/fixgsecret", "missing group", r#"{"config": {"secrets": {"group": {"ct-nogroup": [{"secretname": "fixgsecret", "content": "eA=="}]}}}}"#, 404, 2839),
        post("/config/secrets/group/compute/fixgsecret", "no token", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "fixgsecret", "content": "eA=="}]}}}}"#, 401, 2837).open(),
        post("/config/secrets/group/compute/fixgsecret/_clone", "clone by newsecretname", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "fixgsecret", "newsecretname": "ct-gclone1"}]}}}}"#, 201, 2866),
        post("/config/secrets/group/compute/fixgsecret/_clone", "newsecretname not set", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "fixgsecret"}]}}}}"#, 404, 2870),
        post("/config/secrets/group/compute/fixgsecret/_clone", "newsecretname not set (no body)", "", 404, 2870),
        post("/config/secrets/group/compute/fixgsecret/_clone", "no token", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "fixgsecret", "newsecretname": "ct-gclone2"}]}}}}"#, 401, 2868).open(),
        post("/config/secrets/group/compute/fixgsecret/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/secrets/group/compute/ct-gclone1/_delete", "delete", 204, 2884),
        get("/config/secrets/group/compute/ct-gclone1/_delete", "already deleted", 404, 2888),
        get("/config/secrets/group/compute/fixgsecret/_delete", "no token", 401, 2886).open(),

        // ---- Switches ----
        get("/config/switch", "list", 200, 2923),
        get("/config/switch", "no token", 401, 2925).open(),
        get("/config/switch/fixswitch", "exists", 200, 2950),
        get("/config/switch/fixswitch", "no token", 401, 2952).open(),
        get("/config/switch/ct-noswitch", "missing", 404, 2954),
        post("/config/switch/ct-sw1", "create", r#"{"config": {"switch": {"ct-sw1": {"network": "cluster", "ipaddress": "10.141.253.21"}}}}"#, 201, 2988),
        post("/config/switch/ct-sw1", "update", r#"{"config": {"switch": {"ct-sw1": {"comment": "contract"}}}}"#, 204, 2990),
        post("/config/switch/ct-sw1", "rename by newswitchname", r#"{"config": {"switch": {"ct-sw1": {"newswitchname": "ct-sw1b"}}}}"#, 204, 2990),
        post("/config/switch/ct-sw1b", "no token", r#"{"config": {"switch": {"ct-sw1b": {"comment": "x"}}}}"#, 401, 2992).open(),
        post("/config/switch/ct-sw1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/switch/ct-sw1b", "empty object: no data", r#"{"config": {"switch": {"ct-sw1b": {}}}}"#, 400, 4202),
        post("/config/switch/ct-sw1b", "unknown field", r#"{"config": {"switch": {"ct-sw1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/switch/ct-sw1b", "invalid IP", r#"{"config": {"switch": {"ct-sw1b": {"network": "cluster", "ipaddress": "10.141.253.300"}}}}"#, 400, 4889),
        post("/config/switch/ct-sw1b", "invalid MAC", r#"{"config": {"switch": {"ct-sw1b": {"macaddress": "zz:zz"}}}}"#, 400, 4889),
        post("/config/switch/ct-sw1b/_clone", "clone by newswitchname", r#"{"config": {"switch": {"ct-sw1b": {"newswitchname": "ct-sw1c"}}}}"#, 201, 3022),
        post("/config/switch/ct-noswitch/_clone", "missing source", r#"{"config": {"switch": {"ct-noswitch": {"newswitchname": "ct-sw1d"}}}}"#, 404, 3026),
        post("/config/switch/ct-sw1b/_clone", "no token", r#"{"config": {"switch": {"ct-sw1b": {"newswitchname": "ct-sw1e"}}}}"#, 401, 3024).open(),
        post("/config/switch/ct-sw1b/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/switch/ct-sw1c/_delete", "delete", 204, 3037),
        get("/config/switch/ct-sw1b/_delete", "no token", 401, 3039).open(),

        // ---- Other devices ----
        get("/config/otherdev", "list", 200, 3068),
        get("/config/otherdev", "no token", 401, 3070).open(),
        get("/config/otherdev/fixdev", "exists", 200, 3092),
        get("/config/otherdev/fixdev", "no token", 401, 3094).open(),
        get("/config/otherdev/ct-nodev", "missing", 404, 3096),
        post("/config/otherdev/ct-od1", "create", r#"{"config": {"otherdev": {"ct-od1": {"network": "cluster", "ipaddress": "10.141.250.21"}}}}"#, 201, 3122),
        post("/config/otherdev/ct-od1", "update", r#"{"config": {"otherdev": {"ct-od1": {"comment": "contract"}}}}"#, 204, 3124)
            .note("spec 3124 says 200; 204 as every update (4881, CLI)"),
        post("/config/otherdev/ct-od1", "rename by newotherdevname", r#"{"config": {"otherdev": {"ct-od1": {"newotherdevname": "ct-od1b"}}}}"#, 204, 3124),
        post("/config/otherdev/ct-od1b", "no token", r#"{"config": {"otherdev": {"ct-od1b": {"comment": "x"}}}}"#, 401, 3126).open(),
        post("/config/otherdev/ct-od1b", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/otherdev/ct-od1b", "empty object: no data", r#"{"config": {"otherdev": {"ct-od1b": {}}}}"#, 400, 4202),
        post("/config/otherdev/ct-od1b", "unknown field", r#"{"config": {"otherdev": {"ct-od1b": {"colour": "red"}}}}"#, 400, 4889),
        post("/config/otherdev/ct-od1b", "invalid MAC", r#"{"config": {"otherdev": {"ct-od1b": {"macaddress": "xyz"}}}}"#, 400, 4889),
        post("/config/otherdev/ct-od1b", "invalid IP", r#"{"config": {"otherdev": {"ct-od1b": {"network": "cluster", "ipaddress": "10.141.250.999"}}}}"#, 400, 4889),
        post("/config/otherdev/ct-od1b/_clone", "clone by newotherdevname", r#"{"config": {"otherdev": {"ct-od1b": {"newotherdevname": "ct-od1c"}}}}"#, 201, 3153),
        post("/config/otherdev/ct-od1b/_clone", "no token", r#"{"config": {"otherdev": {"ct-od1b": {"newotherdevname": "ct-od1d"}}}}"#, 401, 3155).open(),
        post("/config/otherdev/ct-od1b/_clone", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/otherdev/ct-od1c/_delete", "delete", 204, 3166),
        get("/config/otherdev/ct-od1b/_delete", "no token", 401, 3168).open(),

        // ---- Services ([SERVICES] COMMAND = /bin/true, COOLDOWN = 60s) ----
        get("/service/dns/reload", "reload", 200, 3185),
        get("/service/status/{rid}", "poll the reload's request id", 200, 3233),
        get("/service/dns/reload", "no token", 401, 3189).open(),
        get("/service/dhcp/reload", "reload", 200, 3200),
        get("/service/dhcp/reload", "no token", 401, 3204).open(),
        get("/service/luna2/reload", "reload (templates)", 200, 3216),
        get("/service/luna2/reload", "no token", 401, 3220).open(),
        get("/service/status/ct-no-request", "unknown request id", 404, 3235),
        get("/monitor/service/dns", "running, no token", 200, 3251).open(),
        get("/monitor/service/dhcp", "running, no token", 200, 3272).open(),
        get("/monitor/service/luna2", "the daemon itself, no token", 200, 3293).open()
            .note("upstream answers 503 for luna2 (§16.9), a bug we do not copy"),

        // ---- Monitoring ----
        get("/monitor/node/node001", "node OK, no token", 200, 3317).open(),
        post("/monitor/node/node002", "installer state", r#"{"monitor": {"status": {"node002": {"state": "install.error", "status": "Luna installer: Error in partscript"}}}}"#, 204, 3342),
        get("/monitor/node/node002", "node not OK", 500, 3319).open().not_json()
            .note("a status report, not an error: the body is the monitor record (3319), not a message"),
        post("/monitor/node/ct-nonode", "missing node", r#"{"monitor": {"status": {"ct-nonode": {"state": "install.success"}}}}"#, 404, 3346),
        post("/monitor/node/node002", "no token", r#"{"monitor": {"status": {"node002": {"state": "install.success"}}}}"#, 401, 3344).open(),
        post("/monitor/node/node002", "malformed JSON", BAD_JSON, 400, 209),
        get("/monitor/status", "list", 200, 3371),
        get("/monitor/status", "no token", 401, 3373).open(),
        post("/monitor/status", "push messages", r#"{"monitor": {"status": {"request_id": "ct-req1", "messages": [{"message": "contract"}]}}}"#, 200, 3399)
            .note("spec 3399 says 200; upstream answers 201 (§5.11)"),
        post("/monitor/status", "no token", r#"{"monitor": {"status": {"request_id": "ct-req2", "messages": []}}}"#, 401, 3401).open(),
        post("/monitor/status", "malformed JSON", BAD_JSON, 400, 209),
        get("/monitor/node", "list", 200, 3425),
        get("/monitor/node", "no token", 401, 3427).open(),
        get("/monitor/ha", "summary", 200, 3451),
        get("/monitor/ha", "no token", 401, 3453).open(),
        get("/monitor/ha/controller", "this controller", 200, 3475),
        get("/monitor/ha/ct-nocontroller", "no monitor row", 404, 3472),
        get("/monitor/ha/controller", "no token", 401, 3477).open(),
        get("/monitor/mother", "summary", 200, 3501),
        get("/monitor/mother", "no token", 401, 3503).open(),
        get("/monitor/mother/ct-nomother", "no monitor row", 404, 3520),
        get("/monitor/mother/ct-nomother", "no token", 401, 3527).open(),
        get("/monitor/osimage", "summary", 200, 3551),
        get("/monitor/osimage", "no token", 401, 3553).open(),
        get("/monitor/osimage/ct-noimage", "no monitor row", 404, 3570),
        get("/monitor/osimage/compute", "no token", 401, 3577).open(),
        get("/monitor/queue", "queue", 200, 3605),
        get("/monitor/queue", "no token", 401, 3607).open(),
        get("/monitor/sync", "summary", 200, 3631),
        get("/monitor/sync", "no token", 401, 3633).open(),
        get("/monitor/sync/ct-noimage", "no monitor row", 404, 3650),
        get("/monitor/sync/compute", "no token", 401, 3657).open(),

        get("/service/luna2/reload", "again within the cooldown", 204, 3218)
            .note("luna2's reload ends at once; a dhcp/dns reload still pending answers 200 with its request_id instead (upstream 'already queued', §8)"),

        // ---- Control (no BMC answers here) ----
        get("/control/action/power/ct-nonode/_status", "missing node", 404, 3708),
        get("/control/action/power/node001/_explode", "unknown action", 400, 4889)
            .note("the spec lists no 400 here; the brief asks for it (an action the server cannot understand, 4889)"),
        get("/control/action/power/node001/_on", "no token", 401, 3706).open(),
        post("/control/action/power/_on", "invalid hostlist", r#"{"control": {"power": {"on": {"hostlist": "node[001-"}}}}"#, 404, 3786),
        post("/control/action/power/_status", "nodes without a BMC: carried out, failed results", r#"{"control": {"power": {"status": {"hostlist": "node[001-002]"}}}}"#, 200, 3782),
        post("/control/action/power/_on", "no token", r#"{"control": {"power": {"on": {"hostlist": "node001"}}}}"#, 401, 3784).open(),
        post("/control/action/power/_on", "malformed JSON", BAD_JSON, 400, 209)
            .note("204/500 of the single-node GET need a real BMC: see tests/control.rs"),
        get("/control/status/ct-no-request", "unknown request id", 404, 3810),

        // ---- Racks and inventory (fixture: fixrack holds node001) ----
        get("/config/rack", "list", 200, 3855),
        get("/config/rack", "no token", 401, 3857).open(),
        get("/config/rack/fixrack", "exists", 200, 3887),
        get("/config/rack/ct-norack", "missing", 404, 3891),
        get("/config/rack/fixrack", "no token", 401, 3889).open(),
        post("/config/rack/ct-r1", "create", r#"{"config": {"rack": {"ct-r1": {"size": 42, "room": "Basement"}}}}"#, 201, 3921),
        post("/config/rack/ct-r1", "update", r#"{"config": {"rack": {"ct-r1": {"room": "Attic"}}}}"#, 204, 3919),
        post("/config/rack/ct-r1", "no token", r#"{"config": {"rack": {"ct-r1": {"room": "x"}}}}"#, 401, 3923).open(),
        post("/config/rack/ct-r1", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/rack/ct-r1", "empty object: no data", r#"{"config": {"rack": {"ct-r1": {}}}}"#, 400, 4202),
        post("/config/rack/ct-r1", "unknown field", r#"{"config": {"rack": {"ct-r1": {"colour": "red"}}}}"#, 400, 4889),
        get("/config/rack/inventory", "list", 200, 3944),
        get("/config/rack/inventory", "no token", 401, 3946).open(),
        get("/config/rack/inventory/configured", "configured subset", 200, 3969),
        get("/config/rack/inventory/unconfigured", "unconfigured subset", 200, 3969),
        get("/config/rack/inventory/ct-nosubset", "unknown subset", 404, 3973),
        post("/config/rack/inventory", "update a placed node's vendor", r#"{"config": {"rack": {"inventory": [{"name": "node001", "type": "node", "vendor": "Dell", "height": 1, "orientation": "front"}]}}}"#, 204, 3994)
            .check(placed_node_vendor_is_dell),
        post("/config/rack/inventory", "no token", r#"{"config": {"rack": {"inventory": []}}}"#, 401, 3998).open(),
        post("/config/rack/inventory", "malformed JSON", BAD_JSON, 400, 209),
        post("/config/rack/inventory", "empty list: no data", r#"{"config": {"rack": {"inventory": []}}}"#, 400, 4202),
        get("/config/rack/inventory/node001/type/node/_delete", "take out of its rack", 201, 4027)
            .note("spec 4027: '201 With content' {message: Inventory cleared}, as upstream"),
        get("/config/rack/inventory/ct-nonode/type/node/_delete", "missing device", 404, 4031),
        get("/config/rack/inventory/node001/type/node/_delete", "no token", 401, 4029).open(),
        get("/config/rack/ct-r1/_delete", "delete", 204, 4009),
        get("/config/rack/ct-r1/_delete", "already deleted", 404, 4013),
        get("/config/rack/fixrack/_delete", "no token", 401, 4011).open(),

        // ---- Journal (no HA peers: nothing waits) ----
        get("/journal/controller", "no entries", 404, 4099)
            .note("4036 lists 200/404 for 'the object does not exist'; 4099: 404 when there are no entries"),
        get("/journal/controller", "no token", 401, 4097).open(),
        post("/journal", "empty batch", r#"{"journal": []}"#, 200, 4070),
        post("/journal", "no token", r#"{"journal": []}"#, 401, 4072).open(),
        post("/journal", "malformed JSON", BAD_JSON, 400, 209),
        get("/journal/controller/_delete", "no entries to delete", 404, 4112),
        get("/journal/controller/_delete", "no token", 401, 4110).open(),

        // ---- Clouds ----
        get("/config/cloud", "list", 200, 4133),
        get("/config/cloud", "no token", 401, 4135).open(),
        get("/config/cloud/fixcloud", "exists", 200, 4157),
        get("/config/cloud/ct-nocloud", "missing", 404, 4161),
        get("/config/cloud/fixcloud", "no token", 401, 4159).open(),
        post("/config/cloud/ct-c1", "create", r#"{"config": {"cloud": {"ct-c1": {"type": "aws", "comment": "contract"}}}}"#, 201, 4198),
        post("/config/cloud/ct-c1", "update", r#"{"config": {"cloud": {"ct-c1": {"comment": "changed"}}}}"#, 204, 4200),
        post("/config/cloud/ct-c1", "rename by newcloudname", r#"{"config": {"cloud": {"ct-c1": {"newcloudname": "ct-c1b"}}}}"#, 204, 4200),
        post("/config/cloud/ct-c1b", "empty object: no data", r#"{"config": {"cloud": {"ct-c1b": {}}}}"#, 400, 4202),
        post("/config/cloud/ct-c1b", "no object for the cloud: no data", r#"{"config": {"cloud": {}}}"#, 400, 4202),
        post("/config/cloud/ct-c1b", "unknown field", r#"{"config": {"cloud": {"ct-c1b": {"colour": "red"}}}}"#, 400, 4202),
        post("/config/cloud/ct-c1b", "no token", r#"{"config": {"cloud": {"ct-c1b": {"comment": "x"}}}}"#, 401, 4204).open(),
        post("/config/cloud/ct-c1b", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/cloud/ct-c1b/_delete", "delete", 204, 4218),
        get("/config/cloud/ct-c1b/_delete", "already deleted", 404, 4222),
        get("/config/cloud/fixcloud/_delete", "no token", 401, 4220).open(),

        // ---- DNS (fixture: cluster has host fixdns) ----
        get("/config/dns/cluster", "entries", 200, 4251),
        get("/config/dns/ct-nonet", "missing network", 404, 4255),
        get("/config/dns/ib", "network without entries", 404, 4255),
        get("/config/dns/cluster", "no token", 401, 4253).open(),
        post("/config/dns/cluster", "add entries", r#"{"config": {"dns": {"cluster": [{"host": "ct-mirror", "ipaddress": "10.141.0.5"}, {"host": "ct-license", "ipaddress": "10.141.0.6"}]}}}"#, 201, 4287),
        post("/config/dns/cluster", "change an entry", r#"{"config": {"dns": {"cluster": [{"host": "ct-mirror", "ipaddress": "10.141.0.7"}]}}}"#, 201, 4287),
        post("/config/dns/cluster", "empty list: no data", r#"{"config": {"dns": {"cluster": []}}}"#, 400, 4289),
        post("/config/dns/cluster", "no list for the network: no data", r#"{"config": {"dns": {}}}"#, 400, 4289),
        post("/config/dns/cluster", "invalid IP", r#"{"config": {"dns": {"cluster": [{"host": "ct-bad", "ipaddress": "10.141.0.300"}]}}}"#, 400, 4889)
            .note("upstream skips invalid IPs silently (§5.9); the error table (4889) makes it a 400"),
        post("/config/dns/ct-nonet", "missing network", r#"{"config": {"dns": {"ct-nonet": [{"host": "ct-x", "ipaddress": "10.141.0.8"}]}}}"#, 404, 4293),
        post("/config/dns/cluster", "no token", r#"{"config": {"dns": {"cluster": [{"host": "ct-x", "ipaddress": "10.141.0.8"}]}}}"#, 401, 4291).open(),
        post("/config/dns/cluster", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/dns/cluster/ct-license/_delete", "delete", 204, 4308),
        get("/config/dns/cluster/ct-license/_delete", "already deleted", 404, 4312)
            .note("upstream always answers 204 (§16.16), a bug we do not copy"),
        get("/config/dns/cluster/ct-mirror/_delete", "no token", 401, 4310).open(),

        // ---- OS users and groups: no directory configured ----
        get("/config/osgroup", "no directory", 503, 4338),
        get("/config/osgroup", "no token", 401, 4336).open(),
        get("/config/osgroup/users", "no directory", 503, 4363),
        get("/config/osgroup/users", "no token", 401, 4359).open(),
        post("/config/osgroup/users", "no directory", r#"{"config": {"osgroup": {"users": {"gidNumber": 100}}}}"#, 503, 4392),
        post("/config/osgroup/users", "no token", r#"{"config": {"osgroup": {"users": {"gidNumber": 100}}}}"#, 401, 4390).open(),
        post("/config/osgroup/users", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/osgroup/users/_delete", "no token", 401, 4406).open()
            .note("create/update/delete success and 404 need an LDAP directory: see tests/osuser.rs"),
        get("/config/osuser", "no directory", 503, 4441),
        get("/config/osuser", "no token", 401, 4439).open(),
        get("/config/osuser/alice", "no directory", 503, 4475),
        get("/config/osuser/alice", "no token", 401, 4471).open(),
        post("/config/osuser/alice", "no directory", r#"{"config": {"osuser": {"alice": {"uidNumber": 1050}}}}"#, 503, 4514),
        post("/config/osuser/alice", "no token", r#"{"config": {"osuser": {"alice": {"uidNumber": 1050}}}}"#, 401, 4512).open(),
        post("/config/osuser/alice", "malformed JSON", BAD_JSON, 400, 209),
        get("/config/osuser/alice/_delete", "no token", 401, 4528).open(),

        // ---- High availability (HA not configured) ----
        get("/ping", "no token", 200, 4542).open(),
        get("/ha/state", "HA not available", 404, 4569),
        get("/ha/state", "no token", 401, 4567).open(),
        get("/ha/master", "no token", 401, 4584).open(),
        get("/ha/master/_set", "no token", 401, 4601).open(),
        get("/ha/overrule/_set", "set (HA not configured)", 204, 4616)
            .note("4616 lists only 204 and 401: no 404 even without HA"),
        get("/ha/overrule/_set", "no token", 401, 4618).open(),
        get("/ha/controllers", "HA not configured: no controller data", 404, 4651)
            .note("read as /ha/state (4569): without HA there is no HA data to list"),
        get("/ha/controllers", "no token", 401, 4649).open(),
        get("/ha/syncimage/compute", "deprecated", 404, 4666),
        get("/ha/syncimage/compute", "no token", 401, 4664).open(),

        // ---- Files (none on a fresh install) ----
        get("/files", "no files present", 503, 4680).open()
            .note("spec 4680: 503 when no files are present (upstream: 404)"),
        get("/files/ct-missing.tar.bz2", "image file, no token", 401, 4693).open(),
        get("/files/ct-missing.tar.bz2", "image file missing, token", 503, 4695),
        get("/files/ct-missing.efi", "boot file missing, no token", 503, 4695).open(),
        get("/filesauth", "image file, no token", 401, 4711).open().header("X-Original-URI", "/files/compute.tar.bz2"),
        get("/filesauth", "image file, token", 200, 4709).header("X-Original-URI", "/files/compute.tar.bz2"),
        get("/filesauth", "boot file, no token", 200, 4709).open().header("X-Original-URI", "/files/luna_ipxe.efi"),

        // ---- Tables ----
        get("/table/hashes", "hashes", 200, 4730),
        get("/table/hashes", "no token", 401, 4732).open(),
        get("/table/data/node", "rows", 200, 4756)
            .note("upstream answers 201 (§13); the spec's 200"),
        get("/table/data/node", "no token", 401, 4758).open(),

        // ---- Tracker (bencoded, not JSON: 4763) ----
        get("/announce?info_hash=%12%34%56%78%9a%bc%de%f0%12%34%56%78%9a%bc%de%f0%12%34%56%78&peer_id=-aria2-0123456789abc&port=6881&uploaded=0&downloaded=0&left=0&compact=1", "info_hash of no torrent served here", 400, 4773).open().not_json()
            .note("an info_hash the tracker does not serve is an invalid one; the 200 needs a packed image (tests/images.rs)"),
        get("/announce?peer_id=-aria2-0123456789ab&port=6881", "info_hash missing", 400, 4773).open().not_json(),
        get("/announce?info_hash=%12%34%56%78%9a%bc%de%f0%12%34%56%78%9a%bc%de%f0%12%34%56%78&port=6881", "peer_id missing", 400, 4773).open().not_json(),
        get("/scrape", "all torrents", 200, 4784).open().not_json(),

        // ---- Plugins (none allowed by the settings) ----
        post("/import/ct-noplugin", "plugin does not exist", r#"{"rules": []}"#, 404, 4812),
        post("/import/ct-noplugin", "no token", r#"{"rules": []}"#, 401, 4810).open(),
        get("/export/ct-noplugin", "plugin does not exist", 404, 4823).open(),

        // ---- TPM ----
        post("/tpm/node001", "TPM information missing", r#"{}"#, 401, 4841).open(),
        post("/tpm/ct-nonode", "node invalid", r#"{"tpm_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#, 401, 4841).open(),
        post("/tpm/node001", "malformed JSON", BAD_JSON, 400, 209).open(),

        // ---- Asynchronous requests ----
        get("/config/status/ct-no-request", "unknown request id", 404, 4872),

        // ---- Last: import replaces the whole configuration ----
        post("/config/cluster/import", "re-import the current export", "@GET /config/cluster/export", 201, 1618),
    ]
}

/// `POST /config/rack/inventory` must store the vendor of a node already
/// placed in a rack, not only answer.
fn placed_node_vendor_is_dell(d: &mut Daemon) -> Result<(), String> {
    let r = d.get("/config/rack/inventory");
    let v: Value = serde_json::from_slice(&r.body)
        .map_err(|e| format!("inventory is not JSON ({e}): {}", r.text()))?;
    let entry = v["config"]["rack"]["inventory"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == "node001"))
        .ok_or_else(|| format!("node001 is not in the inventory: {v}"))?;
    if entry["vendor"] == "Dell" {
        Ok(())
    } else {
        Err(format!(
            "node001's vendor is {} after setting Dell",
            entry["vendor"]
        ))
    }
}

/// What the rows build on: nodes, a switch, a device, a cloud, a rack that
/// holds node001, secrets and a DNS record. A fixture request that fails
/// stops the test: the rows would mean nothing.
#[rustfmt::skip]
const FIXTURE: &[(&str, &str)] = &[
    ("/config/node/node001", r#"{"config": {"node": {"node001": {"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "aa:bb:cc:00:00:01"}]}}}}"#),
    ("/config/node/node002", r#"{"config": {"node": {"node002": {"group": "compute"}}}}"#),
    ("/config/switch/fixswitch", r#"{"config": {"switch": {"fixswitch": {"network": "cluster", "ipaddress": "10.141.253.1"}}}}"#),
    ("/config/otherdev/fixdev", r#"{"config": {"otherdev": {"fixdev": {"network": "cluster", "ipaddress": "10.141.250.1"}}}}"#),
    ("/config/cloud/fixcloud", r#"{"config": {"cloud": {"fixcloud": {"type": "aws"}}}}"#),
    ("/config/rack/fixrack", r#"{"config": {"rack": {"fixrack": {"size": 42, "devices": [{"name": "node001", "type": "node", "position": 5, "height": 1, "orientation": "front"}]}}}}"#),
    ("/config/secrets/node/node001/fixsecret", r#"{"config": {"secrets": {"node": {"node001": [{"secretname": "fixsecret", "content": "Zml4", "path": "/etc/fix"}]}}}}"#),
    ("/config/secrets/group/compute/fixgsecret", r#"{"config": {"secrets": {"group": {"compute": [{"secretname": "fixgsecret", "content": "Zml4", "path": "/etc/g"}]}}}}"#),
    ("/config/dns/cluster", r#"{"config": {"dns": {"cluster": [{"host": "fixdns", "ipaddress": "10.141.0.50"}]}}}"#),
    ("/config/osimage/compute/tag", r#"{"config": {"osimage": {"compute": {"tag": "fixtag"}}}}"#),
];

#[test]
fn every_status_the_spec_lists() {
    let ini = "[SERVICES]\nCOMMAND = /bin/true\nCOOLDOWN = 60s\n\
               [BMCCONTROL]\nBMC_TIMEOUT = 2s\nBMC_BATCH_DELAY = 0s\nCONTROL_WAIT = 2s\n";
    let mut d = Daemon::start_with(
        "contract",
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    let token = d.token();
    for (path, body) in FIXTURE {
        let r = d.post_raw(path, Some(&token), body);
        assert!(
            (200..300).contains(&r.status),
            "fixture POST {path}: {} {}",
            r.status,
            r.text()
        );
    }
    let rows = rows();
    let mut request_id = String::new();
    let mut mismatches = Vec::new();
    for row in &rows {
        let path = row.path.replace("{rid}", &request_id);
        let shown = match row.raw {
            Some(target) => String::from_utf8_lossy(target).into_owned(),
            None => path.clone(),
        };
        let reply = match send(&mut d, row, &path, &token) {
            Ok(r) => r,
            Err(e) => {
                mismatches.push(format!(
                    "{} {shown} — {}: expected {}, got no answer: {e} (spec {})",
                    row.method, row.situation, row.expect, row.spec
                ));
                continue;
            }
        };
        if let Some(id) = request_id_of(&reply) {
            request_id = id;
        }
        let mut wrong = Vec::new();
        if reply.status != row.expect {
            wrong.push(format!("expected {}, got {}", row.expect, reply.status));
        }
        if reply.status >= 400 && row.json_errors && !has_message(&reply) {
            wrong.push(format!(
                "error reply {} is not JSON with a message",
                reply.status
            ));
        }
        if reply.status == row.expect {
            if let Some(check) = row.check {
                if let Err(e) = check(&mut d) {
                    wrong.push(e);
                }
            }
        }
        if !wrong.is_empty() {
            let mut body = reply.text();
            body.truncate(200);
            let note = if row.note.is_empty() {
                String::new()
            } else {
                format!("; note: {}", row.note)
            };
            mismatches.push(format!(
                "{} {shown} — {}: {}: {body:?} (spec {}{note})",
                row.method,
                row.situation,
                wrong.join("; "),
                row.spec
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} rows break the contract:\n{}",
        mismatches.len(),
        rows.len(),
        mismatches.join("\n")
    );
}

/// Sends one row's request on a fresh connection.
fn send(d: &mut Daemon, row: &Row, path: &str, token: &str) -> std::io::Result<Response> {
    if let Some(target) = row.raw {
        return send_raw_target(d, target, token);
    }
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if row.token {
        headers.push(("x-access-tokens", token));
    }
    if let Some(h) = row.header {
        headers.push(h);
    }
    let fetched;
    let body = match row.body {
        Some(b) => match b.strip_prefix("@GET ") {
            Some(from) => {
                fetched = d.get(from).body;
                Some(fetched.as_slice())
            }
            None => Some(b.as_bytes()),
        },
        None => None,
    };
    raw_request(d.addr, row.method, path, &headers, body)
}

/// A GET whose request target is these bytes, as a client that does not
/// encode them would send it.
fn send_raw_target(d: &Daemon, target: &[u8], token: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: {}\r\nx-access-tokens: {token}\r\nConnection: close\r\n\r\n",
            d.addr
        )
        .as_bytes(),
    );
    stream.write_all(&req)?;
    let mut all = Vec::new();
    stream.read_to_end(&mut all)?;
    parse_response(&all)
}

fn has_message(r: &Response) -> bool {
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(|m| !m.is_empty()))
        .unwrap_or(false)
}

fn request_id_of(r: &Response) -> Option<String> {
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    match &v["request_id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
