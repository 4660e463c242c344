//! Generated DHCP and DNS configurations, checked by the real dhcpd and BIND
//! tools, and the regeneration job's debounce and failure handling.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::{wait_until, Daemon, Options};

fn node(name: &str, body: Value) -> Value {
    json!({"config": {"node": { name: body }}})
}

/// A service command that records its invocations in `svc.log`.
fn recording_command(dir: &Path) -> PathBuf {
    let script = dir.join("svc.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}/svc.log\n", dir.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn start(name: &str) -> Daemon {
    let dir = crate::util::temp_dir(name);
    let script = recording_command(&dir);
    let ini = format!(
        "[SERVICES]\nCOMMAND = {}\nCOOLDOWN = 1s\n",
        script.display()
    );
    Daemon::start_in(
        &dir,
        Options {
            ini,
            ..Default::default()
        },
    )
}

fn reloads(d: &Daemon, what: &str) -> usize {
    std::fs::read_to_string(d.dir.join("svc.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == what)
        .count()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A cluster with several networks, nodes with and without MACs, a switch, an
/// other device and extra DNS records.
fn populate(d: &mut Daemon) {
    let r = d.post(
        "/config/network/storage",
        json!({"config": {"network": {"storage": {"network": "10.150.0.0/24", "gateway": "10.150.0.254", "dhcp": true,
            "dhcp_range_begin": "10.150.0.200", "dhcp_range_end": "10.150.0.220"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for (name, mac, extra) in [
        ("node001", Some("aa:bb:cc:00:00:01"), json!({})),
        (
            "node002",
            Some("aa:bb:cc:00:00:02"),
            json!({"bootmenu": true}),
        ),
        (
            "node003",
            Some("aa:bb:cc:00:00:03"),
            json!({"netboot": false}),
        ),
        ("node004", None, json!({})),
    ] {
        let mut body = json!({"group": "compute", "interfaces": [{"interface": "eth1", "network": "storage"}]});
        if let Some(mac) = mac {
            let ifaces = body["interfaces"].as_array_mut().unwrap();
            ifaces.push(json!({"interface": "BOOTIF", "macaddress": mac}));
            let bmc_mac = mac.replace("aa:bb:cc:00", "aa:bb:cc:01");
            ifaces.push(json!({"interface": "BMC", "macaddress": bmc_mac}));
        }
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = d.post(&format!("/config/node/{name}"), node(name, body));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let db = rusqlite::Connection::open(d.dir.join("var/luna.db")).unwrap();
    db.execute_batch(
        "INSERT INTO switch (name, macaddress) VALUES ('switch01', 'aa:bb:cc:ff:00:01');
         INSERT INTO ipaddress (networkid, ipaddress, ipnum, switchid)
           SELECT n.id, '10.141.250.1', 177077761, s.id FROM network n, switch s WHERE n.name = 'cluster';
         INSERT INTO otherdevices (name, macaddress) VALUES ('pdu01', 'aa:bb:cc:ff:00:02');
         INSERT INTO ipaddress (networkid, ipaddress, ipnum, otherdevicesid)
           SELECT n.id, '10.141.250.2', 177077762, o.id FROM network n, otherdevices o WHERE n.name = 'cluster';",
    )
    .unwrap();
    let r = d.post(
        "/config/dns/cluster",
        json!({"config": {"dns": {"cluster": [{"host": "mirror", "ipaddress": "10.141.0.250"}]}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn dhcp_and_dns_configs_pass_the_real_validators() {
    let mut d = start("gen-valid");
    populate(&mut d);
    let dhcp = d.dir.join("var/dhcp/dhcpd.conf");
    let zones = d.dir.join("var/dns/named.luna.zones");
    let ok = wait_until(Duration::from_secs(10), || {
        read(&dhcp).contains("pdu01")
            && read(&d.dir.join("var/dns/cluster.luna.zone")).contains("mirror")
    });
    assert!(ok, "configs not regenerated:\n{}", d.log());

    let conf = read(&dhcp);
    let (valid, out) = run("dhcpd", &["-t", "-cf", &dhcp.display().to_string()]);
    assert!(valid, "dhcpd -t: {out}\n{conf}");
    assert!(
        conf.contains("subnet 10.141.0.0 netmask 255.255.0.0")
            && conf.contains("subnet 10.150.0.0 netmask 255.255.255.0")
    );
    assert!(conf.contains("range 10.150.0.200 10.150.0.220;"));
    assert!(!conf.contains("subnet 10.148.0.0"), "ipmi has DHCP off");
    // Unknown machines: iPXE gets the full menu.
    let port = d.addr.port();
    assert!(
        conf.contains(&format!("filename \"http://10.141.255.254:{port}/boot\";")),
        "{conf}"
    );
    let host = |name: &str| {
        conf.split("host ")
            .find(|h| h.starts_with(name))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        host("node001-BOOTIF").contains("aa:bb:cc:00:00:01")
            && host("node001-BOOTIF").contains("/boot/short\"")
    );
    assert!(
        host("node002-BOOTIF").contains("/boot\""),
        "bootmenu on: {}",
        host("node002-BOOTIF")
    );
    assert!(
        host("node003-BOOTIF").contains("/boot/disk\""),
        "netboot off"
    );
    assert!(!conf.contains("node004"), "no MAC, no host entry");
    assert!(host("switch01").contains("fixed-address 10.141.250.1;"));
    // BMCs get reservations on the BMC network.
    let bmc = host("node001-BMC");
    assert!(
        bmc.contains("aa:bb:cc:01:00:01") && bmc.contains("fixed-address 10.148.0.1;"),
        "{bmc}"
    );

    let (valid, out) = run("named-checkconf", &[&zones.display().to_string()]);
    assert!(valid, "named-checkconf: {out}");
    let cluster = d.dir.join("var/dns/cluster.luna.zone");
    let (valid, out) = run(
        "named-checkzone",
        &["cluster", &cluster.display().to_string()],
    );
    assert!(valid, "named-checkzone: {out}");
    let zone = read(&cluster);
    for record in [
        "controller IN A 10.141.255.254",
        "node001 IN A 10.141.0.1",
        "switch01 IN A 10.141.250.1",
        "pdu01 IN A 10.141.250.2",
        "mirror IN A 10.141.0.250",
    ] {
        assert!(zone.contains(record), "{record} missing:\n{zone}");
    }
    let reverse = d.dir.join("var/dns/0.141.10.in-addr.arpa.luna.zone");
    let (valid, out) = run(
        "named-checkzone",
        &["0.141.10.in-addr.arpa", &reverse.display().to_string()],
    );
    assert!(valid, "named-checkzone reverse: {out}");
    assert!(read(&reverse).contains("1 IN PTR node001.cluster."));
    let ipmi = read(&d.dir.join("var/dns/ipmi.luna.zone"));
    assert!(
        ipmi.contains("node001 IN A 10.148.0.1"),
        "BMC names: {ipmi}"
    );
    let storage = read(&d.dir.join("var/dns/storage.luna.zone"));
    assert!(storage.contains("node004 IN A 10.150.0.4"), "{storage}");
    assert!(reloads(&d, "restart dhcpd") >= 1 && reloads(&d, "reload named") >= 1);
}

fn serial(zone: &str) -> u64 {
    zone.lines()
        .find(|l| l.contains("; serial"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn serial_grows_and_a_burst_causes_few_reloads() {
    let mut d = start("gen-burst");
    let zone = d.dir.join("var/dns/cluster.luna.zone");
    assert!(
        wait_until(Duration::from_secs(10), || serial(&read(&zone)) > 0),
        "{}",
        d.log()
    );
    let first = serial(&read(&zone));
    let dhcp_before = reloads(&d, "restart dhcpd");
    for i in 0..1000 {
        let name = format!("n{i:04}");
        let r = d.post(
            &format!("/config/node/{name}"),
            node(&name, json!({"group": "compute"})),
        );
        assert_eq!(r.status, 201);
    }
    assert!(
        wait_until(Duration::from_secs(15), || read(&zone)
            .contains("n0999 IN A")),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    let burst = reloads(&d, "restart dhcpd") - dhcp_before;
    assert!(
        (1..=12).contains(&burst),
        "1,000 changes caused {burst} DHCP reloads"
    );
    assert!(serial(&read(&zone)) > first, "the SOA serial increases");
    // The listing is read in pages of 500; every page arrives.
    let list = d.get("/config/node").json();
    let names: Vec<&String> = list["config"]["node"].as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 1000);
}

#[test]
fn a_config_the_validator_rejects_is_never_installed() {
    let mut d = start("gen-broken");
    let dhcp = d.dir.join("var/dhcp/dhcpd.conf");
    assert!(
        wait_until(Duration::from_secs(10), || !read(&dhcp).is_empty()),
        "{}",
        d.log()
    );
    let good = read(&dhcp);
    assert_eq!(d.get_open("/monitor/service/dhcp").status, 200);
    // A template that renders, but into something dhcpd refuses.
    let tdir = d.dir.join("var/templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(
        tdir.join("templ_dhcpd.cfg"),
        "subnet {{ domain }} this is not dhcpd syntax {\n",
    )
    .unwrap();
    assert_eq!(d.get("/service/luna2/reload").status, 200);
    let r = d.get("/service/dhcp/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let mut messages = String::new();
    let done = wait_until(Duration::from_secs(10), || {
        let s = d.get(&format!("/service/status/{id}"));
        if s.status == 200 {
            messages.push_str(s.json()["message"].as_str().unwrap_or(""));
        }
        messages.contains("not installed")
    });
    assert!(
        done,
        "status never reported the failure: {messages}\n{}",
        d.log()
    );
    assert_eq!(read(&dhcp), good, "the previous config is kept");
    let m = d.get_open("/monitor/service/dhcp");
    assert_eq!(m.status, 500);
    assert!(
        m.json()["monitor"]["service"]["dhcp"]
            .as_str()
            .unwrap()
            .contains("rejected"),
        "{}",
        m.text()
    );
    let leftovers: Vec<_> = std::fs::read_dir(d.dir.join("var/dhcp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no staged files left behind: {leftovers:?}"
    );
}

#[test]
fn dns_records_crud() {
    let mut d = start("gen-dnscrud");
    assert_eq!(d.get("/config/dns/cluster").status, 404, "no entries yet");
    let post = |d: &mut Daemon, entries: Value| {
        d.post(
            "/config/dns/cluster",
            json!({"config": {"dns": {"cluster": entries}}}),
        )
    };
    let r = post(
        &mut d,
        json!([{"host": "mirror", "ipaddress": "10.141.0.250"}, {"host": "license", "ipaddress": "10.141.0.251"}]),
    );
    assert_eq!(
        (r.status, r.message()),
        (201, "DNS entries added or changed".to_string())
    );
    let r = post(
        &mut d,
        json!([{"host": "mirror", "ipaddress": "10.141.0.252"}]),
    );
    assert_eq!(r.status, 201);
    let list = d.get("/config/dns/cluster").json();
    assert_eq!(
        list["config"]["dns"]["cluster"],
        json!([{"host": "license", "ipaddress": "10.141.0.251"}, {"host": "mirror", "ipaddress": "10.141.0.252"}])
    );
    for (bad, needle) in [
        (
            json!([{"host": "bad_name", "ipaddress": "10.141.0.9"}]),
            "host",
        ),
        (
            json!([{"host": "x", "ipaddress": "10.99.0.9"}]),
            "not inside",
        ),
        (json!([{"host": "x", "ipaddress": "nope"}]), "ipaddress"),
        (json!([{"host": "x"}]), "ipaddress"),
        (json!([]), "no DNS entries"),
        (
            json!([{"host": "x", "ipaddress": "10.141.0.9", "ttl": 5}]),
            "ttl",
        ),
    ] {
        let r = post(&mut d, bad.clone());
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.message().contains(needle), "{bad}: {}", r.message());
    }
    assert_eq!(
        d.post(
            "/config/dns/nope",
            json!({"config": {"dns": {"nope": [{"host": "a", "ipaddress": "10.1.1.1"}]}}})
        )
        .status,
        404
    );
    assert_eq!(d.get("/config/dns/cluster/mirror/_delete").status, 204);
    assert_eq!(d.get("/config/dns/cluster/mirror/_delete").status, 404);
    assert_eq!(d.get_open("/config/dns/cluster").status, 401);
    let zone = d.dir.join("var/dns/cluster.luna.zone");
    assert!(wait_until(Duration::from_secs(10), || {
        let z = read(&zone);
        z.contains("license IN A 10.141.0.251") && !z.contains("mirror")
    }));
}
