//! Nodes: interfaces, addresses, inheritance, rename, clone, delete.

use serde_json::{json, Value};

use crate::util::Daemon;

fn node(name: &str, body: Value) -> Value {
    json!({"config": {"node": { name: body }}})
}

fn show(d: &mut Daemon, name: &str) -> Value {
    let r = d.get(&format!("/config/node/{name}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["config"]["node"][name].clone()
}

fn iface<'a>(n: &'a Value, name: &str) -> &'a Value {
    n["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["interface"] == json!(name))
        .unwrap_or(&Value::Null)
}

#[test]
fn luna_cli_add_change_remove() {
    let mut d = Daemon::start("node-cli");
    // The exact bodies the luna CLI sends.
    let r = d.post(
        "/config/node/node9001",
        json!({"config": {"node": {"node9001": {"name": "node9001", "group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "de:ad:be:ef:90:01"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.message(), "Node node9001 created successfully");
    let n = show(&mut d, "node9001");
    assert_eq!(
        iface(&n, "BOOTIF")["macaddress"],
        json!("de:ad:be:ef:90:01")
    );
    assert_eq!(iface(&n, "BOOTIF")["network"], json!("cluster"));
    assert_eq!(iface(&n, "BOOTIF")["ipaddress"], json!("10.141.0.1"));
    assert_eq!(iface(&n, "BMC")["ipaddress"], json!("10.148.0.1"));

    let r = d.post(
        "/config/node/node9001",
        json!({"config": {"node": {"node9001": {"name": "node9001", "comment": "Y2hhbmdlZC1ieS1jbGk="}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        show(&mut d, "node9001")["comment"],
        json!("Y2hhbmdlZC1ieS1jbGk=")
    );

    let list = d.get("/config/node").json();
    assert_eq!(
        list["config"]["node"]["node9001"],
        show(&mut d, "node9001"),
        "list and show agree"
    );

    assert_eq!(d.get("/config/node/node9001/_delete").status, 204);
    let r = d.get("/config/node/node9001");
    assert_eq!(r.status, 404);
    assert!(r.message().contains("node9001"));
    // Its addresses are free again.
    assert_eq!(
        d.get_open("/config/network/cluster/_nextfreeip").json()["config"]["network"]["cluster"]
            ["nextip"],
        json!("10.141.0.1")
    );
}

#[test]
fn create_requires_a_known_group_and_valid_values() {
    let mut d = Daemon::start("node-invalid");
    for (body, needle) in [
        (json!({"comment": "no group"}), "group is required"),
        (json!({"group": "nope"}), "group 'nope'"),
        (json!({"group": "compute", "osimage": "nope"}), "osimage"),
        (json!({"group": "compute", "switch": "nope"}), "switch"),
        (
            json!({"group": "compute", "netboot": "sometimes"}),
            "netboot",
        ),
        (
            json!({"group": "compute", "newhostname": "x"}),
            "newhostname",
        ),
        (json!({"group": "compute", "flavour": "x"}), "flavour"),
        (
            json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "zz:zz"}]}),
            "MAC",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "ipaddress": "10.999.0.1"}]}),
            "ipaddress",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "network": "cluster", "ipaddress": "10.148.0.9"}]}),
            "10.148.0.9",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "eth1", "ipaddress": "192.0.2.1"}]}),
            "not inside any network",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "eth1", "network": "cluster", "ipaddress": "10.141.0.0"}]}),
            "host address",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "eth1", "mtu": 12}]}),
            "mtu",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "eth1", "speed": 12}]}),
            "speed",
        ),
        (
            json!({"group": "compute", "interfaces": [{"interface": "bad name"}]}),
            "interface name",
        ),
    ] {
        let r = d.post("/config/node/n1", node("n1", body.clone()));
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.message().contains(needle), "{body}: {}", r.message());
        assert_eq!(
            d.get("/config/node/n1").status,
            404,
            "{body}: nothing half-written"
        );
    }
    for bad_name in ["-lead", "a/b", "default", &"x".repeat(64)] {
        let path = format!("/config/node/{}", bad_name.replace('/', "%2F"));
        let r = d.post(&path, node(bad_name, json!({"group": "compute"})));
        assert_eq!(r.status, 400, "{bad_name}: {}", r.text());
    }
}

#[test]
fn duplicate_macs_and_ips_name_the_holder() {
    let mut d = Daemon::start("node-dup");
    let r = d.post(
        "/config/node/a",
        node("a", json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "02:00:00:00:00:0a", "ipaddress": "10.141.1.10"}]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        iface(&show(&mut d, "a"), "BOOTIF")["ipaddress"],
        json!("10.141.1.10")
    );
    let r = d.post(
        "/config/node/b",
        node(
            "b",
            json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "02-00-00-00-00-0A"}]}),
        ),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("a interface BOOTIF"),
        "{}",
        r.message()
    );
    let r = d.post(
        "/config/node/b",
        node("b", json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "ipaddress": "10.141.1.10"}]})),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("in use by a"), "{}", r.message());
    let r = d.post(
        "/config/node/b",
        node("b", json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "ipaddress": "10.141.255.254"}]})),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("controller"), "{}", r.message());
    assert_eq!(d.get("/config/node/b").status, 404);
    // force takes the address from another node.
    let r = d.post("/config/node/b", node("b", json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "ipaddress": "10.141.1.10", "force": true}]})));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        iface(&show(&mut d, "b"), "BOOTIF")["ipaddress"],
        json!("10.141.1.10")
    );
    assert_eq!(
        iface(&show(&mut d, "a"), "BOOTIF")["ipaddress"],
        Value::Null
    );
}

#[test]
fn inheritance_with_sources_and_overrides() {
    let mut d = Daemon::start("node-inherit");
    let r = d.post(
        "/config/group/compute",
        json!({"config": {"group": {"compute": {"netboot": true, "roles": "slurm"}}}}),
    );
    assert_eq!(r.status, 204);
    let r = d.post("/config/node/n1", node("n1", json!({"group": "compute"})));
    assert_eq!(r.status, 201);
    let n = show(&mut d, "n1");
    assert_eq!(
        (n["netboot"].clone(), n["_netboot_source"].clone()),
        (json!(true), json!("group"))
    );
    assert_eq!(
        (n["roles"].clone(), n["_roles_source"].clone()),
        (json!("slurm"), json!("group"))
    );
    assert_eq!(
        (
            n["provision_method"].clone(),
            n["_provision_method_source"].clone()
        ),
        (json!("torrent"), json!("cluster"))
    );
    assert_eq!(
        (
            n["kerneloptions"].clone(),
            n["_kerneloptions_source"].clone()
        ),
        (json!("net.ifnames=0 biosdevname=0"), json!("osimage"))
    );
    assert_eq!(
        (n["osimage"].clone(), n["_osimage_source"].clone()),
        (json!("compute"), json!("group"))
    );
    assert_eq!(
        (n["bmcsetup"].clone(), n["_bmcsetup_source"].clone()),
        (json!("compute"), json!("group"))
    );
    assert_eq!(n["_override"], json!(false));
    assert_eq!(n["hostname"], json!("n1"));

    // A node's false overrides the group's true; null goes back to inheriting.
    let r = d.post(
        "/config/node/n1",
        node("n1", json!({"netboot": false, "provision_method": "http"})),
    );
    assert_eq!(r.status, 204);
    let n = show(&mut d, "n1");
    assert_eq!(
        (n["netboot"].clone(), n["_netboot_source"].clone()),
        (json!(false), json!("node"))
    );
    assert_eq!(
        (
            n["provision_method"].clone(),
            n["_provision_method_source"].clone()
        ),
        (json!("http"), json!("node"))
    );
    assert_eq!(n["_override"], json!(true));
    let r = d.post(
        "/config/node/n1",
        node("n1", json!({"netboot": null, "provision_method": null})),
    );
    assert_eq!(r.status, 204);
    let n = show(&mut d, "n1");
    assert_eq!(n["_netboot_source"], json!("group"));
    assert_eq!(n["_override"], json!(false));
}

#[test]
fn rename_with_either_key_and_clone() {
    let mut d = Daemon::start("node-rename");
    let r = d.post(
        "/config/node/n1",
        node("n1", json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "02:00:00:00:00:01"}], "comment": "c"})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        d.post("/config/node/n1", node("n1", json!({"newhostname": "n2"})))
            .status,
        204
    );
    assert_eq!(d.get("/config/node/n1").status, 404);
    assert_eq!(
        d.post("/config/node/n2", node("n2", json!({"newnodename": "n3"})))
            .status,
        204
    );
    let n3 = show(&mut d, "n3");
    assert_eq!(
        iface(&n3, "BOOTIF")["macaddress"],
        json!("02:00:00:00:00:01")
    );
    let r = d.post(
        "/config/node/other",
        node("other", json!({"group": "compute"})),
    );
    assert_eq!(r.status, 201);
    let r = d.post(
        "/config/node/n3",
        node("n3", json!({"newhostname": "other"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("already exists"));

    let r = d.post(
        "/config/node/n3/_clone",
        node("n3", json!({"newnodename": "n4"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let n4 = show(&mut d, "n4");
    assert_eq!(n4["comment"], json!("c"));
    assert_eq!(
        iface(&n4, "BOOTIF")["macaddress"],
        Value::Null,
        "MACs are not cloned"
    );
    assert_ne!(
        iface(&n4, "BOOTIF")["ipaddress"],
        iface(&n3, "BOOTIF")["ipaddress"]
    );
    assert_eq!(iface(&n4, "BOOTIF")["network"], json!("cluster"));
    let r = d.post(
        "/config/node/n3/_clone",
        node("n3", json!({"newhostname": "n4"})),
    );
    assert_eq!(r.status, 400);
    let r = d.post("/config/node/n3/_clone", node("n3", json!({})));
    assert_eq!(r.status, 400);
}

#[test]
fn moving_groups_renumbers_only_what_does_not_fit() {
    let mut d = Daemon::start("node-regroup");
    let r = d.post(
        "/config/group/gpu",
        json!({"config": {"group": {"gpu": {"interfaces": [{"interface": "BOOTIF", "network": "cluster"}, {"interface": "ib0", "network": "ib"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/node/n1",
        node(
            "n1",
            json!({"group": "compute", "interfaces": [{"interface": "eth9", "network": "ib"}]}),
        ),
    );
    assert_eq!(r.status, 201);
    let before = show(&mut d, "n1");
    let r = d.post("/config/node/n1", node("n1", json!({"group": "gpu"})));
    assert_eq!(r.status, 204, "{}", r.text());
    let after = show(&mut d, "n1");
    assert_eq!(
        iface(&after, "BOOTIF")["ipaddress"],
        iface(&before, "BOOTIF")["ipaddress"],
        "same network keeps its IP"
    );
    assert_eq!(iface(&after, "ib0")["network"], json!("ib"));
    assert!(
        iface(&after, "BMC").is_null(),
        "the old group's BMC interface is gone"
    );
    assert_eq!(
        iface(&after, "eth9")["ipaddress"],
        iface(&before, "eth9")["ipaddress"],
        "node-only interfaces stay"
    );
    let r = d.post("/config/node/n1", node("n1", json!({"group": null})));
    assert_eq!(r.status, 400);
}

#[test]
fn node_interface_routes() {
    let mut d = Daemon::start("node-ifaces");
    assert_eq!(
        d.post("/config/node/n1", node("n1", json!({"group": "compute"})))
            .status,
        201
    );
    let r = d.get("/config/node/n1/interfaces");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["config"]["node"]["n1"]["interfaces"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = d.post(
        "/config/node/n1/interfaces",
        node("n1", json!({"interfaces": [{"interface": "BOOTIF", "macaddress": "02:00:00:00:00:99"}, {"interface": "ib0", "network": "ib", "ipaddress": "10.149.0.50", "mtu": 2044}]})),
    );
    assert_eq!(r.status, 201, "a new interface: {}", r.text());
    let r = d.get("/config/node/n1/interfaces/ib0");
    assert_eq!(
        r.json()["config"]["node"]["n1"]["interfaces"],
        json!([{"interface": "ib0", "network": "ib", "ipaddress": "10.149.0.50", "ipaddress_ipv6": null, "macaddress": null, "dhcp": false, "mtu": 2044}])
    );
    assert_eq!(d.get("/config/node/n1/interfaces/ib0/_delete").status, 204);
    assert_eq!(d.get("/config/node/n1/interfaces/ib0").status, 404);
    assert_eq!(d.get("/config/node/n1/interfaces/ib0/_delete").status, 404);
    assert_eq!(d.get("/config/node/nope/interfaces").status, 404);
    let r = d.post(
        "/config/node/nope/interfaces",
        node("nope", json!({"interfaces": []})),
    );
    assert_eq!(r.status, 404);
    let status = d.get_open("/config/network/ib/10.149.0.50").status;
    assert_eq!(status, 401);
    let s = d.get("/config/network/ib/10.149.0.50").json();
    assert_eq!(
        s["config"]["network"]["10.149.0.50"]["status"],
        json!("free"),
        "the deleted interface released its address"
    );
}

#[test]
fn image_jobs_are_queued_for_existing_nodes_and_groups() {
    let mut d = Daemon::start("node-osjobs");
    assert_eq!(
        d.post("/config/node/n1", node("n1", json!({"group": "compute"})))
            .status,
        201
    );
    for path in ["/config/node/n1/_ospush", "/config/node/n1/_osgrab"] {
        let r = d.post(path, node("n1", json!({"osimage": "compute"})));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(r.json()["request_id"].is_string(), "{}", r.text());
    }
    let r = d.post(
        "/config/group/compute/_ospush",
        json!({"config": {"group": {"compute": {}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        d.post("/config/node/nope/_ospush", node("nope", json!({})))
            .status,
        404
    );
    let r = d.post(
        "/config/node/n1/_osgrab",
        node("n1", json!({"osimage": "nope"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.post(
        "/config/node/n1/_osgrab",
        node("n1", json!({"nodry": "yes"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}
