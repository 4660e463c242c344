//! BMC setups, switches, other devices and clouds: the shared resource shape
//! plus their own rules.

use serde_json::{json, Value};

use crate::util::Daemon;

fn body(kind: &str, name: &str, v: Value) -> Value {
    json!({"config": { kind: { name: v }}})
}

#[test]
fn bmcsetup_crud_members_and_in_use() {
    let mut d = Daemon::start("inv-bmc");
    let r = d.post(
        "/config/bmcsetup/dell",
        body(
            "bmcsetup",
            "dell",
            json!({"username": "root", "comments": "Default DELL"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let b = d.get("/config/bmcsetup/dell").json()["config"]["bmcsetup"]["dell"].clone();
    assert_eq!(
        (
            b["username"].clone(),
            b["userid"].clone(),
            b["netchannel"].clone()
        ),
        (json!("root"), json!(2), json!(1))
    );
    assert_eq!(b["comment"], json!("Default DELL"));
    let password = b["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 16, "a random password, not a known default");
    assert_eq!(
        d.get_open("/config/bmcsetup/dell").status,
        401,
        "passwords need a token"
    );

    assert_eq!(
        d.post(
            "/config/bmcsetup/dell",
            body("bmcsetup", "dell", json!({"userid": 99}))
        )
        .status,
        400
    );
    assert_eq!(
        d.post(
            "/config/bmcsetup/dell",
            body("bmcsetup", "dell", json!({"newbmcname": "dell2"}))
        )
        .status,
        204
    );
    let r = d.post(
        "/config/bmcsetup/dell2/_clone",
        body(
            "bmcsetup",
            "dell2",
            json!({"newbmcname": "dell3", "userid": 3}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let b3 = d.get("/config/bmcsetup/dell3").json()["config"]["bmcsetup"]["dell3"].clone();
    assert_eq!(
        (b3["userid"].clone(), b3["password"].clone()),
        (json!(3), json!(password))
    );

    // The bootstrap group uses BMC setup 'compute': its nodes are members.
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"group": "compute"}}}})
        )
        .status,
        201
    );
    let m = d.get("/config/bmcsetup/compute/_member").json();
    assert_eq!(m["config"]["bmcsetup"]["compute"]["members"], json!(["n1"]));
    let r = d.get("/config/bmcsetup/compute/_delete");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("group compute"), "{}", r.message());
    assert_eq!(d.get("/config/bmcsetup/dell3/_delete").status, 204);
    assert_eq!(d.get("/config/bmcsetup/dell3").status, 404);
    assert_eq!(
        d.get("/config/bmcsetup").json()["config"]["bmcsetup"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn switches_take_addresses_in_ipam() {
    let mut d = Daemon::start("inv-switch");
    let r = d.post(
        "/config/switch/switch01",
        body("switch", "switch01", json!({"network": "cluster", "ipaddress": "10.141.253.1", "comments": "Bootswitch", "macaddress": "AA-BB-CC-00-00-10"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let s = d.get("/config/switch/switch01").json()["config"]["switch"]["switch01"].clone();
    assert_eq!(s["ipaddress"], json!("10.141.253.1"));
    assert_eq!(s["network"], json!("cluster"));
    assert_eq!(
        s["oid"],
        json!(".1.3.6.1.2.1.17.7.1.2.2.1.2"),
        "upstream's default"
    );
    assert_eq!(
        (s["read"].clone(), s["rw"].clone()),
        (json!("public"), json!("trusted"))
    );
    assert_eq!(s["macaddress"], json!("aa:bb:cc:00:00:10"));
    let m = d.get_open("/config/network/cluster/_member").json();
    assert!(m["config"]["network"]["cluster"]["taken"]
        .as_array()
        .unwrap()
        .contains(&json!({"ipaddress": "10.141.253.1", "device": "switch01"})));
    let st = d.get("/config/network/cluster/10.141.253.1").json();
    assert_eq!(
        st["config"]["network"]["10.141.253.1"]["status"],
        json!("taken")
    );

    // Conflicts and bad input.
    for (b, needle) in [
        (json!({"ipaddress": "10.141.253.1"}), "in use by switch01"),
        (
            json!({"network": "ipmi", "ipaddress": "10.141.0.9"}),
            "not a host address",
        ),
        (json!({"ipaddress": "192.0.2.1"}), "not inside any network"),
        (json!({"ipaddress": "10.141.x"}), "invalid ipaddress"),
        (json!({"network": "nope"}), "network 'nope'"),
        (json!({"macaddress": "nope"}), "MAC"),
    ] {
        let r = d.post(
            "/config/switch/switch02",
            body("switch", "switch02", b.clone()),
        );
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        assert!(r.message().contains(needle), "{b}: {}", r.message());
        assert_eq!(d.get("/config/switch/switch02").status, 404);
    }
    // A node's IP may not take the switch's either.
    let r = d.post("/config/node/n1", json!({"config": {"node": {"n1": {"group": "compute", "interfaces": [{"interface": "BOOTIF", "ipaddress": "10.141.253.1"}]}}}}));
    assert_eq!(r.status, 400);
    assert!(r.message().contains("switch01"));

    // Clone: same network, next free address; the MAC is not copied.
    let r = d.post(
        "/config/switch/switch01/_clone",
        body("switch", "switch01", json!({"newswitchname": "switch02"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let s2 = d.get("/config/switch/switch02").json()["config"]["switch"]["switch02"].clone();
    assert_eq!(
        (
            s2["network"].clone(),
            s2["ipaddress"].clone(),
            s2["macaddress"].clone()
        ),
        (json!("cluster"), json!("10.141.0.1"), Value::Null)
    );
    assert_eq!(
        d.get_open("/config/network/cluster/_nextfreeip").json()["config"]["network"]["cluster"]
            ["nextip"],
        json!("10.141.0.2")
    );

    // The spec's name for a default field replaces the default.
    let r = d.post(
        "/config/switch/sw9",
        body("switch", "sw9", json!({"readcommunity": "secret9"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        d.get("/config/switch/sw9").json()["config"]["switch"]["sw9"]["read"],
        json!("secret9")
    );
    assert_eq!(d.get("/config/switch/sw9/_delete").status, 204);

    // A node on the switch keeps it from being deleted.
    let r = d.post("/config/node/n1", json!({"config": {"node": {"n1": {"group": "compute", "switch": "switch01", "switchport": "7"}}}}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        d.get("/config/switch/switch01/_member").json()["config"]["switch"]["switch01"]["members"],
        json!(["n1"])
    );
    let r = d.get("/config/switch/switch01/_delete");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("n1"));
    // Removing the address frees it; deleting the switch frees its own.
    assert_eq!(
        d.post(
            "/config/switch/switch02",
            body("switch", "switch02", json!({"ipaddress": ""}))
        )
        .status,
        204
    );
    assert_eq!(
        d.get("/config/switch/switch02").json()["config"]["switch"]["switch02"]["ipaddress"],
        Value::Null
    );
    assert_eq!(d.get("/config/switch/switch02/_delete").status, 204);
    assert_eq!(
        d.get("/config/switch").json()["config"]["switch"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn other_devices_and_clouds() {
    let mut d = Daemon::start("inv-other");
    let r = d.post(
        "/config/otherdev/apc01",
        body(
            "otherdev",
            "apc01",
            json!({"network": "ipmi", "comments": "APC for rack01a"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let o = d.get("/config/otherdev/apc01").json()["config"]["otherdev"]["apc01"].clone();
    assert_eq!(
        (
            o["network"].clone(),
            o["ipaddress"].clone(),
            o["comment"].clone()
        ),
        (json!("ipmi"), json!("10.148.0.1"), json!("APC for rack01a"))
    );
    assert_eq!(
        d.post(
            "/config/otherdev/apc01",
            body("otherdev", "apc01", json!({"newotherdevname": "apc02"}))
        )
        .status,
        204
    );
    let r = d.post(
        "/config/otherdev/apc02/_clone",
        body(
            "otherdev",
            "apc02",
            json!({"newotherdevname": "apc03", "ipaddress": "10.148.9.9"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        d.get("/config/otherdev/apc03").json()["config"]["otherdev"]["apc03"]["ipaddress"],
        json!("10.148.9.9")
    );
    assert_eq!(d.get("/config/otherdev/apc02/_delete").status, 204);
    assert_eq!(d.get("/config/otherdev/apc02").status, 404);
    assert_eq!(d.get("/config/otherdev/apc02/_delete").status, 404);

    assert_eq!(
        d.post(
            "/config/cloud/aws1",
            body("cloud", "aws1", json!({"type": "aws"}))
        )
        .status,
        201
    );
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"group": "compute", "cloud": "aws1"}}}})
        )
        .status,
        201
    );
    assert_eq!(
        d.get("/config/node/n1").json()["config"]["node"]["n1"]["cloud"],
        json!("aws1")
    );
    assert_eq!(d.get("/config/cloud/aws1/_delete").status, 400);
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"cloud": ""}}}})
        )
        .status,
        204
    );
    assert_eq!(d.get("/config/cloud/aws1/_delete").status, 204);
    assert_eq!(
        d.get("/config/cloud").json(),
        json!({"config": {"cloud": {}}})
    );
    assert_eq!(
        d.post("/config/cloud/x", body("cloud", "x", json!({"flavour": 1})))
            .status,
        400
    );
}
