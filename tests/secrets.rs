//! Secrets: every endpoint, the group's secrets in a node's view, and
//! encryption at rest checked in the database file itself.

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use crate::util::Daemon;

fn secrets(kind: &str, name: &str, items: Value) -> Value {
    json!({"config": {"secrets": { kind: { name: items }}}})
}

#[test]
fn node_and_group_secrets() {
    let mut d = Daemon::start("secrets");
    assert_eq!(
        d.post(
            "/config/node/node001",
            json!({"config": {"node": {"node001": {"group": "compute"}}}})
        )
        .status,
        201
    );
    let r = d.post(
        "/config/secrets/node/node001",
        secrets("node", "node001", json!([
            {"secretname": "software license", "content": "TICENSE-KEY-1234", "path": "/etc/app/license.lic"},
            {"name": "shared secret", "content": "c2hhcmVk", "path": "/etc/keys.crt"}
        ])),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/secrets/node/node001",
        secrets(
            "node",
            "node001",
            json!([{"secretname": "shared secret", "content": "bmV3"}]),
        ),
    );
    assert_eq!(r.status, 204, "only updates");
    let r = d.post("/config/secrets/group/compute/Infiniband", secrets("group", "compute", json!([{"secretname": "Infiniband", "content": "IB-LICENSE", "path": "/etc/rdma/license.lic"}])));
    assert_eq!(r.status, 201, "{}", r.text());

    // The node's view includes its group's secrets.
    let v = d.get("/config/secrets/node/node001").json();
    let node = &v["config"]["secrets"]["node"]["node001"];
    assert_eq!(node.as_array().unwrap().len(), 2);
    assert_eq!(node[0]["secretname"], json!("shared secret"));
    assert_eq!(node[0]["content"], json!("bmV3"));
    assert_eq!(node[1]["content"], json!("TICENSE-KEY-1234"));
    assert_eq!(
        v["config"]["secrets"]["group"]["compute"][0]["content"],
        json!("IB-LICENSE")
    );
    let one = d
        .get("/config/secrets/node/node001/software%20license")
        .json();
    assert_eq!(
        one["config"]["secrets"]["node"]["node001"][0]["path"],
        json!("/etc/app/license.lic")
    );
    let all = d.get("/config/secrets").json();
    assert_eq!(
        all["config"]["secrets"]["group"]["compute"][0]["secretname"],
        json!("Infiniband")
    );

    // Clone, update one, delete.
    let r = d.post(
        "/config/secrets/node/node001/software%20license/_clone",
        secrets(
            "node",
            "node001",
            json!([{"secretname": "software license", "newsecretname": "software license2"}]),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/secrets/node/node001/software%20license2",
        secrets(
            "node",
            "node001",
            json!([{"secretname": "software license2", "path": "/etc/app/license2.lic"}]),
        ),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let c = d
        .get("/config/secrets/node/node001/software%20license2")
        .json();
    assert_eq!(
        c["config"]["secrets"]["node"]["node001"][0]["content"],
        json!("TICENSE-KEY-1234")
    );
    assert_eq!(
        c["config"]["secrets"]["node"]["node001"][0]["path"],
        json!("/etc/app/license2.lic")
    );
    assert_eq!(
        d.get("/config/secrets/node/node001/software%20license2/_delete")
            .status,
        204
    );
    assert_eq!(
        d.get("/config/secrets/node/node001/software%20license2")
            .status,
        404
    );
    assert_eq!(
        d.get("/config/secrets/group/compute/Infiniband/_delete")
            .status,
        204
    );
    assert_eq!(
        d.get("/config/secrets/group/compute").json()["config"]["secrets"]["group"]["compute"],
        json!([])
    );

    // Refusals.
    assert_eq!(
        d.post("/config/secrets", json!({"config": {"secrets": {}}}))
            .status,
        400
    );
    // Several at once, as for nodes: created 201, changed 204, as stored 200.
    let many = |content: &str| {
        secrets(
            "group",
            "compute",
            json!([{"secretname": "x", "content": content}, {"secretname": "y", "content": "z"}]),
        )
    };
    assert_eq!(
        d.post("/config/secrets/group/compute", many("v1")).status,
        201
    );
    assert_eq!(
        d.post("/config/secrets/group/compute", many("v2")).status,
        204
    );
    assert_eq!(
        d.post("/config/secrets/group/compute", many("v2")).status,
        200
    );
    let shown = d.get("/config/secrets/group/compute/x").json();
    assert_eq!(
        shown["config"]["secrets"]["group"]["compute"][0]["content"], "v2",
        "{shown}"
    );
    for name in ["x", "y"] {
        let r = d.get(&format!("/config/secrets/group/compute/{name}/_delete"));
        assert_eq!(r.status, 204, "{}", r.text());
    }
    for (items, needle) in [
        (json!([{"secretname": "x"}]), "needs content"),
        (json!([{"content": "x"}]), "secretname"),
        (
            json!([{"secretname": "a/b", "content": "x"}]),
            "invalid secret name",
        ),
        (
            json!([{"secretname": "x", "content": "y", "path": "relative"}]),
            "absolute",
        ),
        (
            json!([{"secretname": "x", "content": "y", "owner": "root"}]),
            "owner",
        ),
        (json!([]), "no secrets"),
    ] {
        let r = d.post(
            "/config/secrets/node/node001",
            secrets("node", "node001", items.clone()),
        );
        assert_eq!(r.status, 400, "{items}: {}", r.text());
        assert!(r.message().contains(needle), "{items}: {}", r.message());
    }
    assert_eq!(d.get("/config/secrets/node/nope").status, 404);
    assert_eq!(d.get_open("/config/secrets").status, 401);
    assert_eq!(d.get_open("/config/secrets/node/node001").status, 401);
}

#[test]
fn secrets_are_sealed_at_rest() {
    let mut d = Daemon::start("secrets-rest");
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"group": "compute"}}}})
        )
        .status,
        201
    );
    let r = d.post(
        "/config/secrets/node/n1",
        secrets(
            "node",
            "n1",
            json!([{"secretname": "k", "content": "PLAINTEXT-MARKER-9876", "path": "/k"}]),
        ),
    );
    assert_eq!(r.status, 201);
    let key = d.dir.join("var/luna.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Nowhere in the database files (main file and WAL) is the plaintext.
    for file in ["var/luna.db", "var/luna.db-wal"] {
        let bytes = std::fs::read(d.dir.join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(21).any(|w| w == b"PLAINTEXT-MARKER-9876"),
            "{file} holds the plaintext"
        );
    }
    assert_eq!(
        d.get("/config/secrets/node/n1/k").json()["config"]["secrets"]["node"]["n1"][0]["content"],
        json!("PLAINTEXT-MARKER-9876")
    );
}

/// Whether any database file of `d` holds `needle` in the clear.
fn on_disk(d: &Daemon, needle: &str) -> Vec<String> {
    ["var/luna.db", "var/luna.db-wal"]
        .iter()
        .filter(|file| {
            let bytes = std::fs::read(d.dir.join(file)).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn bmc_passwords_are_sealed_at_rest_and_answered_in_the_clear() {
    let mut d = Daemon::start("bmc-sealed");
    let r = d.post(
        "/config/bmcsetup/lab",
        json!({"config": {"bmcsetup": {"lab": {"username": "root", "password": "BMC-CANARY-5150"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let shown = d.get("/config/bmcsetup/lab").json();
    assert_eq!(
        shown["config"]["bmcsetup"]["lab"]["password"],
        "BMC-CANARY-5150"
    );
    assert_eq!(d.get_open("/config/bmcsetup/lab").status, 401);
    // A clone carries the password (sealed, opened with the same key).
    let r = d.post(
        "/config/bmcsetup/lab/_clone",
        json!({"config": {"bmcsetup": {"lab": {"newbmcname": "lab2"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let shown = d.get("/config/bmcsetup/lab2").json();
    assert_eq!(
        shown["config"]["bmcsetup"]["lab2"]["password"],
        "BMC-CANARY-5150"
    );
    // The install script of a node with that setup gets the password.
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"n1": {"group": "compute", "bmcsetup": "lab", "setupbmc": true,
            "interfaces": [{"interface": "BMC", "network": "ipmi"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let script = d.get("/boot/install/n1").text();
    assert!(script.contains("BMC-CANARY-5150"), "{script}");
    assert_eq!(on_disk(&d, "BMC-CANARY-5150"), Vec::<String>::new());

    // A password stored in the clear by an older luna2d is sealed at start.
    let dir = d.dir.clone();
    d.kill();
    {
        let db = rusqlite::Connection::open(dir.join("var/luna.db")).unwrap();
        db.execute(
            "UPDATE bmcsetup SET password = 'OLD-CLEAR-PW-77' WHERE name = 'lab'",
            [],
        )
        .unwrap();
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    let mut d = Daemon::start_in(&dir, Default::default());
    let shown = d.get("/config/bmcsetup/lab").json();
    assert_eq!(
        shown["config"]["bmcsetup"]["lab"]["password"],
        "OLD-CLEAR-PW-77"
    );
    let stored = crate::util::stored_bmc_password(&dir, "lab");
    assert!(stored.starts_with("luna2d1:"), "{stored}");
    // The bootstrap's own setup was sealed when it was created.
    let stored = crate::util::stored_bmc_password(&dir, "compute");
    assert!(stored.starts_with("luna2d1:"), "{stored}");
}
