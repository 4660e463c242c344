//! Groups, their interfaces and members.

use serde_json::{json, Value};

use crate::util::Daemon;

fn group(name: &str, body: Value) -> Value {
    json!({"config": {"group": { name: body }}})
}

fn show(d: &mut Daemon, name: &str) -> Value {
    let r = d.get(&format!("/config/group/{name}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["config"]["group"][name].clone()
}

#[test]
fn bootstrap_group_has_spec_shape() {
    let mut d = Daemon::start("group-show");
    let g = show(&mut d, "compute");
    assert_eq!(g["osimage"], json!("compute"));
    assert_eq!(g["netboot"], json!(true));
    assert_eq!(g["bootmenu"], json!(false));
    assert_eq!(
        g["interfaces"],
        json!([{"interface": "BOOTIF", "network": "cluster"}, {"interface": "BMC", "network": "ipmi"}])
    );
    // Scripts are answered base64-encoded.
    let part = g["partscript"].as_str().unwrap();
    assert!(
        part.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)),
        "{part}"
    );
    let list = d.get("/config/group").json();
    assert_eq!(list["config"]["group"]["compute"], g, "list and show agree");
}

#[test]
fn create_update_rename_clone_delete() {
    let mut d = Daemon::start("group-crud");
    let r = d.post(
        "/config/group/gpu",
        group("gpu", json!({"osimage": "compute", "prescript": "#!/bin/bash\nexit 0", "interfaces": [{"interface": "BOOTIF", "network": "cluster"}, {"interface": "ib0", "network": "ib"}]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let g = show(&mut d, "gpu");
    assert_eq!(g["prescript"], json!("IyEvYmluL2Jhc2gKZXhpdCAw"));
    assert_eq!(g["interfaces"].as_array().unwrap().len(), 2);

    let r = d.post(
        "/config/group/gpu",
        group("gpu", json!({"comment": "GPU nodes", "netboot": false})),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let g = show(&mut d, "gpu");
    assert_eq!(
        (g["comment"].clone(), g["netboot"].clone()),
        (json!("GPU nodes"), json!(false))
    );

    let r = d.post(
        "/config/group/gpu",
        group("gpu", json!({"newgroupname": "compute"})),
    );
    assert_eq!(r.status, 400, "rename onto an existing name");
    let r = d.post(
        "/config/group/gpu",
        group("gpu", json!({"newgroupname": "gpu2"})),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(d.get("/config/group/gpu").status, 404);

    let r = d.post(
        "/config/group/gpu2/_clone",
        group("gpu2", json!({"newgroupname": "gpu3", "comment": "copy"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let g3 = show(&mut d, "gpu3");
    assert_eq!(g3["comment"], json!("copy"));
    assert_eq!(g3["interfaces"], show(&mut d, "gpu2")["interfaces"]);
    let r = d.post(
        "/config/group/gpu2/_clone",
        group("gpu2", json!({"comment": "no name"})),
    );
    assert_eq!(r.status, 400);
    let r = d.post(
        "/config/group/missing/_clone",
        group("missing", json!({"newgroupname": "x"})),
    );
    assert_eq!(r.status, 404);

    assert_eq!(d.get("/config/group/gpu3/_delete").status, 204);
    assert_eq!(d.get("/config/group/gpu3").status, 404);
    assert_eq!(d.get("/config/group/gpu3/_delete").status, 404);
}

#[test]
fn invalid_group_input_is_refused() {
    let mut d = Daemon::start("group-invalid");
    for (body, needle) in [
        (json!({"osimage": "nope"}), "osimage"),
        (json!({"bmcsetupname": "nope"}), "bmcsetupname"),
        (json!({"netboot": "perhaps"}), "netboot"),
        (json!({"provision_method": "floppy"}), "provision_method"),
        (
            json!({"interfaces": [{"interface": "eth9", "network": "nope"}]}),
            "network 'nope'",
        ),
        (
            json!({"interfaces": [{"interface": "eth9"}]}),
            "network is required",
        ),
        (json!({"interfaces": "BOOTIF"}), "list"),
        (json!({"wings": 2}), "wings"),
    ] {
        let r = d.post("/config/group/g2", group("g2", body.clone()));
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.message().contains(needle), "{body}: {}", r.message());
        assert_eq!(
            d.get("/config/group/g2").status,
            404,
            "{body}: nothing half-written"
        );
    }
}

#[test]
fn members_and_delete_in_use() {
    let mut d = Daemon::start("group-members");
    let m = d.get("/config/group/compute/_member");
    assert_eq!(
        (
            m.status,
            m.json()["config"]["group"]["compute"]["members"].clone()
        ),
        (200, json!([]))
    );
    for n in ["node002", "node001"] {
        let r = d.post(
            &format!("/config/node/{n}"),
            json!({"config": {"node": {n: {"group": "compute"}}}}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let m = d.get("/config/group/compute/_member").json();
    assert_eq!(
        m["config"]["group"]["compute"]["members"],
        json!(["node001", "node002"])
    );
    let r = d.get("/config/group/compute/_delete");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("node001"), "{}", r.message());
    assert_eq!(d.get("/config/group/nope/_member").status, 404);
}

#[test]
fn group_interfaces_routes_and_propagation() {
    let mut d = Daemon::start("group-ifaces");
    let r = d.post(
        "/config/node/node001",
        json!({"config": {"node": {"node001": {"group": "compute"}}}}),
    );
    assert_eq!(r.status, 201);
    let r = d.get("/config/group/compute/interfaces");
    assert_eq!(
        r.json()["config"]["group"]["compute"]["interfaces"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = d.post(
        "/config/group/compute/interfaces",
        group(
            "compute",
            json!({"interfaces": [{"interface": "ib0", "network": "ib"}]}),
        ),
    );
    assert_eq!(r.status, 201, "a new interface: {}", r.text());
    let r = d.get("/config/group/compute/interfaces/ib0");
    assert_eq!(
        r.json()["config"]["group"]["compute"]["interfaces"],
        json!([{"interface": "ib0", "network": "ib"}])
    );
    // The member node got the interface with an address.
    let ifs = d.get("/config/node/node001/interfaces/ib0").json();
    assert_eq!(
        ifs["config"]["node"]["node001"]["interfaces"][0]["ipaddress"],
        json!("10.149.0.1")
    );

    assert_eq!(
        d.get("/config/group/compute/interfaces/ib0/_delete").status,
        204
    );
    assert_eq!(d.get("/config/group/compute/interfaces/ib0").status, 404);
    assert_eq!(d.get("/config/node/node001/interfaces/ib0").status, 404);
    assert_eq!(
        d.get("/config/group/compute/interfaces/ib0/_delete").status,
        404
    );
    assert_eq!(d.get("/config/group/nope/interfaces").status, 404);
    let r = d.post(
        "/config/group/compute/interfaces",
        group("compute", json!({"comment": "x"})),
    );
    assert_eq!(r.status, 400);
}
