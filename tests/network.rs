//! Networks and IPAM.

use serde_json::{json, Value};

use crate::util::Daemon;

fn net(body: Value) -> Value {
    json!({"config": {"network": body}})
}

fn create(d: &mut Daemon, name: &str, body: Value) -> crate::util::Response {
    d.post(
        &format!("/config/network/{name}"),
        net(json!({ name: body })),
    )
}

#[test]
fn bootstrap_networks_are_listed() {
    let mut d = Daemon::start("net-list");
    let r = d.get("/config/network");
    assert_eq!(r.status, 200);
    let nets = r.json()["config"]["network"].clone();
    assert_eq!(nets["cluster"]["network"], json!("10.141.0.0/16"));
    assert_eq!(nets["ipmi"]["network"], json!("10.148.0.0/16"));
    assert_eq!(nets["ib"]["network"], json!("10.149.0.0/16"));
    assert_eq!(nets["cluster"]["dhcp"], json!(true));
    assert!(nets["ipmi"].get("dhcp_range_begin").is_none());
    let r = d.get("/config/network/cluster");
    assert_eq!(
        r.json()["config"]["network"]["cluster"]["name"],
        json!("cluster")
    );
    assert_eq!(d.get("/config/network/nope").status, 404);
}

#[test]
fn create_update_rename_delete() {
    let mut d = Daemon::start("net-crud");
    let r = create(
        &mut d,
        "storage",
        json!({"network": "10.150.0.0/24", "gateway": "10.150.0.254", "comment": "NFS"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.message().contains("storage"));
    let s = d.get("/config/network/storage").json()["config"]["network"]["storage"].clone();
    assert_eq!(s["network"], json!("10.150.0.0/24"));
    assert_eq!(s["zone"], json!("internal"));
    assert_eq!(s["gateway_metric"], json!(101));

    let r = create(
        &mut d,
        "storage",
        json!({"dhcp": true, "dhcp_range_begin": "10.150.0.100", "dhcp_range_end": "10.150.0.150"}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());

    // Rename onto an existing name is refused; to a new one works.
    let r = create(&mut d, "storage", json!({"newnetname": "ib"}));
    assert_eq!(r.status, 400);
    assert!(r.message().contains("already exists"), "{}", r.message());
    let r = create(&mut d, "storage", json!({"newnetname": "nfs"}));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(d.get("/config/network/storage").status, 404);
    assert_eq!(
        d.get("/config/network/nfs").json()["config"]["network"]["nfs"]["dhcp_range_end"],
        json!("10.150.0.150")
    );

    assert_eq!(d.get("/config/network/nfs/_delete").status, 204);
    assert_eq!(d.get("/config/network/nfs").status, 404);
    assert_eq!(d.get("/config/network/nfs/_delete").status, 404);
}

#[test]
fn invalid_networks_are_refused_with_the_reason() {
    let mut d = Daemon::start("net-invalid");
    let cases = [
        (json!({"comment": "no range"}), "network is required"),
        (json!({"network": "10.150.0.0/33"}), "invalid network"),
        (json!({"network": "banana"}), "invalid network"),
        (
            json!({"network": "10.141.5.0/24"}),
            "overlaps network 'cluster'",
        ),
        (json!({"network": "10.0.0.0/8"}), "overlaps"),
        (
            json!({"network": "10.150.0.0/24", "gateway": "10.151.0.1"}),
            "gateway",
        ),
        (
            json!({"network": "10.150.0.0/24", "gateway": "10.150.0.x"}),
            "gateway",
        ),
        (
            json!({"network": "10.150.0.0/24", "nameserver_ip": "10.1.1.1"}),
            "nameserver_ip",
        ),
        (
            json!({"network": "10.150.0.0/24", "dhcp": true}),
            "dhcp_range_begin",
        ),
        (
            json!({"network": "10.150.0.0/24", "dhcp": true, "dhcp_range_begin": "10.150.0.9", "dhcp_range_end": "10.150.0.1"}),
            "after",
        ),
        (
            json!({"network": "10.150.0.0/24", "dhcp": true, "dhcp_range_begin": "10.150.0.9", "dhcp_range_end": "10.150.1.1"}),
            "dhcp_range_end",
        ),
        (json!({"network": "10.150.0.0/24", "zone": "dmz"}), "zone"),
        (
            json!({"network": "10.150.0.0/24", "colour": "blue"}),
            "colour",
        ),
        (
            json!({"network": "10.150.0.0/24", "newnetname": "x"}),
            "newnetname",
        ),
    ];
    for (body, needle) in cases {
        let r = create(&mut d, "bad", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.message().contains(needle), "{body}: {}", r.message());
    }
    assert_eq!(
        d.get("/config/network/bad").status,
        404,
        "nothing half-written"
    );
    let r = d.post(
        "/config/network/bad%20name",
        net(json!({"bad name": {"network": "10.150.0.0/24"}})),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn next_free_ip_skips_reserved_and_taken_addresses() {
    let mut d = Daemon::start("net-nextfree");
    let r = create(
        &mut d,
        "lab",
        json!({"network": "10.150.0.0/29", "gateway": "10.150.0.1", "dhcp": true, "dhcp_range_begin": "10.150.0.3", "dhcp_range_end": "10.150.0.4"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // No token needed, and no reservation: asking twice gives the same answer.
    for _ in 0..2 {
        let r = d.get_open("/config/network/lab/_nextfreeip");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json()["config"]["network"]["lab"]["nextip"],
            json!("10.150.0.2")
        );
    }
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"n1": {"group": "compute", "interfaces": [{"interface": "eth1", "network": "lab"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        d.get_open("/config/network/lab/_nextfreeip").json()["config"]["network"]["lab"]["nextip"],
        json!("10.150.0.5")
    );

    let status = |d: &mut Daemon, ip: &str| d.get(&format!("/config/network/lab/{ip}"));
    assert_eq!(
        status(&mut d, "10.150.0.2").json()["config"]["network"]["10.150.0.2"]["status"],
        json!("taken")
    );
    assert_eq!(
        status(&mut d, "10.150.0.5").json()["config"]["network"]["10.150.0.5"]["status"],
        json!("free")
    );
    assert_eq!(
        status(&mut d, "10.150.0.1").json()["config"]["network"]["10.150.0.1"]["status"],
        json!("taken")
    );
    assert_eq!(status(&mut d, "10.150.1.5").status, 404);
    assert_eq!(status(&mut d, "10.150.0.999").status, 400);
    assert_eq!(d.get("/config/network/nope/10.0.0.1").status, 404);
    assert_eq!(d.get_open("/config/network/lab/10.150.0.5").status, 401);

    let m = d.get_open("/config/network/lab/_member");
    assert_eq!(m.status, 200);
    assert_eq!(
        m.json()["config"]["network"]["lab"]["taken"],
        json!([{"ipaddress": "10.150.0.2", "device": "n1", "interface": "eth1"}])
    );
    let m = d.get_open("/config/network/cluster/_member").json();
    let taken = m["config"]["network"]["cluster"]["taken"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        taken.contains(&json!({"ipaddress": "10.141.255.254", "device": "controller"})),
        "{taken:?}"
    );
    assert_eq!(d.get_open("/config/network/nope/_member").status, 404);

    // Fill the network: .5 and .6 remain, then nothing.
    for n in ["n2", "n3"] {
        let r = d.post(
            &format!("/config/node/{n}"),
            json!({"config": {"node": {n: {"group": "compute", "interfaces": [{"interface": "eth1", "network": "lab"}]}}}}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    assert_eq!(d.get_open("/config/network/lab/_nextfreeip").status, 404);
    let r = d.post(
        "/config/node/n4",
        json!({"config": {"node": {"n4": {"group": "compute", "interfaces": [{"interface": "eth1", "network": "lab"}]}}}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("no free address"), "{}", r.message());
    assert_eq!(
        d.get("/config/node/n4").status,
        404,
        "the failed create left nothing behind"
    );
}

#[test]
fn networks_in_use_cannot_be_deleted_or_shrunk() {
    let mut d = Daemon::start("net-inuse");
    let r = d.get("/config/network/cluster/_delete");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("controller"), "{}", r.message());
    let r = d.get("/config/network/ipmi/_delete");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("group compute"), "{}", r.message());
    // Shrinking cluster would leave the controller outside.
    let r = create(&mut d, "cluster", json!({"network": "10.141.0.0/24"}));
    assert_eq!(r.status, 400);
    assert!(r.message().contains("10.141.255.254"), "{}", r.message());
    // A DHCP range over an assigned address is refused.
    let r = create(
        &mut d,
        "cluster",
        json!({"dhcp_range_begin": "10.141.255.250", "dhcp_range_end": "10.141.255.254"}),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("controller"), "{}", r.message());
}
