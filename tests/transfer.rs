//! Export and import of the whole configuration.

use serde_json::{json, Value};

use crate::util::Daemon;

fn populate(d: &mut Daemon) {
    let posts = [
        (
            "/config/network/storage",
            json!({"config": {"network": {"storage": {"network": "10.150.0.0/24", "dhcp": true, "dhcp_range_begin": "10.150.0.200", "dhcp_range_end": "10.150.0.220"}}}}),
        ),
        (
            "/config/osimage/rocky",
            json!({"config": {"osimage": {"rocky": {"kernelfile": "k", "initrdfile": "i", "grab_exclude": ["/proc"]}}}}),
        ),
        (
            "/config/osimage/rocky/tag",
            json!({"config": {"osimage": {"rocky": {"tag": "v1"}}}}),
        ),
        (
            "/config/bmcsetup/dell",
            json!({"config": {"bmcsetup": {"dell": {"username": "root", "password": "calvin"}}}}),
        ),
        (
            "/config/cloud/aws",
            json!({"config": {"cloud": {"aws": {"type": "aws"}}}}),
        ),
        (
            "/config/switch/sw1",
            json!({"config": {"switch": {"sw1": {"network": "cluster", "ipaddress": "10.141.253.1"}}}}),
        ),
        (
            "/config/otherdev/pdu1",
            json!({"config": {"otherdev": {"pdu1": {"network": "ipmi"}}}}),
        ),
        (
            "/config/group/gpu",
            json!({"config": {"group": {"gpu": {"osimage": "rocky", "bmcsetupname": "dell", "setupbmc": true, "osimagetag": "v1",
            "interfaces": [{"interface": "BOOTIF", "network": "cluster"}, {"interface": "BMC", "network": "ipmi"}, {"interface": "eth1", "network": "storage"}]}}}}),
        ),
        (
            "/config/node/gpu001",
            json!({"config": {"node": {"gpu001": {"group": "gpu", "netboot": false, "switch": "sw1", "switchport": "3",
            "interfaces": [{"interface": "BOOTIF", "macaddress": "aa:bb:cc:00:00:01", "ipaddress": "10.141.7.7"}, {"interface": "BMC", "ipaddress": "10.148.7.7"}]}}}}),
        ),
        (
            "/config/node/gpu002",
            json!({"config": {"node": {"gpu002": {"group": "gpu", "cloud": "aws", "prescript": "IyEvYmluL3NoCg=="}}}}),
        ),
        (
            "/config/node/c001",
            json!({"config": {"node": {"c001": {"group": "compute"}}}}),
        ),
        (
            "/config/dns/cluster",
            json!({"config": {"dns": {"cluster": [{"host": "mirror", "ipaddress": "10.141.0.250"}]}}}),
        ),
        (
            "/config/secrets/node/gpu001",
            json!({"config": {"secrets": {"node": {"gpu001": [{"secretname": "lic", "content": "LICENSE", "path": "/etc/lic"}]}}}}),
        ),
        (
            "/config/secrets/group/gpu/key",
            json!({"config": {"secrets": {"group": {"gpu": [{"secretname": "key", "content": "KEY", "path": "/etc/key"}]}}}}),
        ),
        (
            "/config/cluster",
            json!({"config": {"cluster": {"technical_contacts": "ops@example.org", "provision_method": "http"}}}),
        ),
    ];
    for (path, body) in posts {
        let r = d.post(path, body);
        assert!(r.status == 201 || r.status == 204, "{path}: {}", r.text());
    }
}

#[test]
fn export_import_round_trip() {
    let mut a = Daemon::start("export-a");
    populate(&mut a);
    let r = a.get("/config/cluster/export");
    assert_eq!(r.status, 200);
    let exported = r.json();
    assert_eq!(
        exported["config"]["secrets"]["node"]["gpu001"][0]["content"],
        json!("LICENSE")
    );
    assert_eq!(
        exported["config"]["node"]["gpu001"]["interfaces"][0]["ipaddress"],
        json!("10.141.7.7")
    );
    assert_eq!(a.get_open("/config/cluster/export").status, 401);

    let mut b = Daemon::start("export-b");
    let r = b.post("/config/cluster/import", exported.clone());
    assert_eq!(r.status, 201, "{}", r.text());
    let again = b.get("/config/cluster/export").json();
    for key in [
        "cluster",
        "network",
        "osimage",
        "osimagetag",
        "bmcsetup",
        "cloud",
        "switch",
        "otherdev",
        "group",
        "node",
        "dns",
        "secrets",
    ] {
        assert_eq!(
            again["config"][key], exported["config"][key],
            "{key} differs after the round trip"
        );
    }
}

#[test]
fn import_is_all_or_nothing_and_names_the_bad_item() {
    let mut a = Daemon::start("import-bad");
    let mut doc = json!({"config": {
        "network": {"storage": {"network": "10.150.0.0/24"}},
        "node": {"n1": {"group": "compute"}, "n2": {"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "not-a-mac"}]}}
    }});
    let r = a.post("/config/cluster/import", doc.clone());
    // The spec: 404 when the configuration could not be imported.
    assert_eq!(r.status, 404);
    assert!(
        r.message().contains("node 'n2'") && r.message().contains("MAC"),
        "{}",
        r.message()
    );
    assert_eq!(
        a.get("/config/network/storage").status,
        404,
        "nothing was applied"
    );
    assert_eq!(a.get("/config/node/n1").status, 404);
    doc["config"]["node"]["n2"]["interfaces"][0]["macaddress"] = Value::Null;
    assert_eq!(a.post("/config/cluster/import", doc).status, 201);
    assert_eq!(a.get("/config/node/n2").status, 200);
    assert_eq!(
        a.post("/config/cluster/import", json!({"nope": 1})).status,
        400
    );
}
