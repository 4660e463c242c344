//! Two controllers as one: changes on the master reach the shadow through
//! the journal, in order and exactly once, also across a kill -9 of the
//! shadow; the shadow refuses changes; roles and journal endpoints.

use std::time::Duration;

use serde_json::{json, Value};

use crate::util::{wait_until, Daemon, Options};

const SECRET: &str = "ha-test-shared-secret-0123456789abcdef";

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn controller(name: &str, listen: &str, peer: &str, master: bool) -> Options {
    Options {
        ini: format!(
            "[API]\nSECRET_KEY = {SECRET}\n[HA]\nNAME = {name}\nPEERS = {peer}\nMASTER = {}\nSYNC_EVERY = 2s\n",
            if master { "yes" } else { "no" }
        ),
        listen: Some(listen.to_string()),
        ..Default::default()
    }
}

fn node(name: &str, extra: Value) -> Value {
    let mut obj = json!({"group": "compute"});
    if let (Some(o), Some(e)) = (obj.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    json!({"config": {"node": {name: obj}}})
}

/// A burst of mixed changes on the master, `from..to`.
fn burst(m: &mut Daemon, from: usize, to: usize) {
    for i in from..to {
        let name = format!("n{i:03}");
        let r = m.post(
            &format!("/config/node/{name}"),
            node(
                &name,
                json!({"interfaces": [{"interface": "BOOTIF",
                "macaddress": format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)}]}),
            ),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        if i % 10 == 0 {
            let r = m.post(
                &format!("/config/node/{name}"),
                node(&name, json!({"comment": format!("changed {i}")})),
            );
            assert_eq!(r.status, 204, "{}", r.text());
            // Not idempotent: applied twice, the second would fail.
            let r = m.post(
                &format!("/config/node/{name}/_clone"),
                json!({"config": {"node": {name.clone(): {"newnodename": format!("c{i:03}"),
                    "interfaces": []}}}}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
        }
        if i % 30 == 0 {
            // A network, and a secret (sealed on each controller with its own key).
            let net = format!("net{i}");
            let r = m.post(
                &format!("/config/network/{net}"),
                json!({"config": {"network": {net.clone(): {"network": format!("10.{}.0.0/16", 200 + i / 30), "dhcp": false}}}}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
            let r = m.post(
                &format!("/config/secrets/node/{name}"),
                json!({"config": {"secrets": {"node": {name.clone(): [
                    {"name": "key", "content": format!("secret {i}"), "path": "/etc/key"}]}}}}),
            );
            assert!(r.status == 201 || r.status == 204, "{}", r.text());
        }
        if i % 25 == 0 {
            let g = format!("g{i}");
            let r = m.post(
                &format!("/config/group/{g}"),
                json!({"config": {"group": {g.clone(): {"comment": "burst"}}}}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
        }
    }
}

fn hashes(d: &mut Daemon) -> Value {
    d.get("/table/hashes").json()
}

fn wait_in_step(m: &mut Daemon, s: &mut Daemon) {
    let mut last = (Value::Null, Value::Null);
    let same = wait_until(Duration::from_secs(60), || {
        last = (hashes(m), hashes(s));
        // Every table, sealed columns included (compared by what they open
        // to: each controller seals with its own key).
        last.0["table"]["hashes"].is_object() && last.0 == last.1
    });
    assert!(same, "the shadow did not catch up:\n{}\n{}", last.0, last.1);
}

#[test]
fn the_shadow_follows_the_master_exactly_once() {
    let (p1, p2) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let (a1, a2) = (format!("127.0.0.1:{p1}"), format!("127.0.0.2:{p2}"));
    let mut m = Daemon::start_with(
        "ha-master",
        controller("c1", &a1, &format!("c2={a2}"), true),
    );
    let shadow_opts = || controller("c2", &a2, &format!("c1={a1}"), false);
    let mut s = Daemon::start_with("ha-shadow", shadow_opts());

    let st = m.get("/ha/state").json();
    assert_eq!(st["ha"]["master"], true, "{st}");
    assert_eq!(st["ha"]["enabled"], true, "{st}");
    assert_eq!(s.get("/ha/master").status, 404, "the shadow is not master");
    // Both controllers are listed in the cluster, with the spec's and
    // upstream's names for the address.
    let c = m.get("/config/cluster").json()["config"]["cluster"].clone();
    assert_eq!(c["c2"]["ipaddr"], "127.0.0.2", "{c}");
    assert_eq!(c["c2"]["ipaddress"], "127.0.0.2", "{c}");
    assert_eq!(c["c2"]["serverport"], p2, "{c}");
    assert_eq!(c["controller"]["status"], "master", "{c}");
    let c = s.get("/config/cluster").json()["config"]["cluster"].clone();
    assert_eq!(c["c1"]["ipaddr"], "127.0.0.1", "{c}");
    assert_eq!(c["controller"]["status"], "shadow", "{c}");
    let r = s.post("/config/node/x1", node("x1", json!({})));
    assert_eq!(r.status, 503, "the shadow refuses changes: {}", r.text());
    assert!(r.message().contains("shadow"), "{}", r.text());

    burst(&mut m, 0, 250);
    wait_in_step(&mut m, &mut s);
    let n = s.get("/config/node/c010").json();
    assert_eq!(n["config"]["node"]["c010"]["comment"], "changed 10", "{n}");
    // The secret arrived, readable on the shadow (sealed with its own key).
    let sec = s.get("/config/secrets/node/n030").json();
    assert!(sec.to_string().contains("secret 30"), "{sec}");

    // The shadow dies in the middle of a burst and comes back.
    let dir = s.dir.clone();
    std::thread::sleep(Duration::from_millis(200));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        s.kill();
        s
    });
    burst(&mut m, 250, 500);
    let _dead = killer.join().unwrap();
    // The entries waiting for the dead shadow carry secrets: sealed in the
    // master's journal, so no database file holds them in the clear.
    let r = m.post(
        "/config/secrets/node/n499",
        json!({"config": {"secrets": {"node": {"n499": [
            {"name": "key", "content": "secret 999", "path": "/etc/key"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let waiting = m.get("/journal/c2").json();
    assert!(
        waiting.to_string().contains("/config/secrets/node/n499"),
        "{waiting}"
    );
    for file in ["var/luna.db", "var/luna.db-wal"] {
        let bytes = std::fs::read(m.dir.join(file)).unwrap_or_default();
        for i in (0..500).step_by(30).chain([999]) {
            let plain = format!("secret {i}\"");
            assert!(
                !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                "{file} holds {plain} in the clear"
            );
        }
    }
    let mut s = Daemon::start_in(&dir, shadow_opts());
    wait_in_step(&mut m, &mut s);
    // Nothing was applied twice: a second clone would have failed and marked
    // the shadow out of sync.
    let st = s.get("/ha/state").json();
    assert_eq!(st["ha"]["insync"], true, "{st}");
    assert_eq!(st["ha"]["master"], false, "{st}");
    // Acknowledged entries are gone from the master's journal.
    let drained = wait_until(Duration::from_secs(10), || {
        m.get("/journal/c2").status == 404
    });
    assert!(drained, "{}", m.get("/journal/c2").text());

    let c = m.get("/ha/controllers").json();
    assert_eq!(c["message"]["c1"]["ha"]["master"], true, "{c}");
    assert_eq!(c["message"]["c2"]["ha"]["master"], false, "{c}");
    assert_eq!(m.get("/ha/syncimage/compute").status, 404);
    let h = m.get("/monitor/ha").json();
    assert_eq!(
        h["monitor"]["status"]["ha"]["c1"]["status"], "active",
        "{h}"
    );
    assert_eq!(
        s.get("/monitor/ha/c2").json()["monitor"]["status"]["c2"]["status"],
        "standby"
    );
    assert_eq!(m.get_open("/ha/state").status, 401);

    // The shadow takes over when told to, and then accepts changes.
    let r = s.get("/ha/master/_set");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("/ha/master").status, 200);
    let r = s.post("/config/node/x2", node("x2", json!({})));
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn without_peers_ha_is_off() {
    let mut d = Daemon::start("ha-off");
    assert_eq!(d.get("/ha/state").status, 404);
    assert_eq!(
        d.get("/ha/master").status,
        200,
        "a lone controller is master"
    );
    assert_eq!(d.get("/journal/nobody").status, 404);
    let h = d.get("/monitor/ha").json();
    assert_eq!(
        h["monitor"]["status"]["ha"]["controller"]["status"], "active",
        "{h}"
    );
    assert_eq!(d.get("/monitor/ha/nobody").status, 404);
    let mo = d.get("/monitor/mother").json();
    assert_eq!(
        mo["monitor"]["status"]["mother"]["jobs"]["status"], "running",
        "{mo}"
    );
    assert_eq!(d.get("/monitor/mother/jobs").status, 200);
    assert_eq!(d.get("/monitor/mother/nope").status, 404);
    assert_eq!(d.get_open("/monitor/mother").status, 401);
}

fn ha_opts(name: &str, listen: &str, peer: &str, master: bool, extra: &str) -> Options {
    let mut o = controller(name, listen, peer, master);
    o.ini.push_str(extra);
    o
}

#[test]
fn failover_and_the_old_master_returns_as_shadow_and_tables_are_repaired() {
    let (p1, p2) = (free_port("127.0.0.1"), free_port("127.0.0.3"));
    let (a1, a2) = (format!("127.0.0.1:{p1}"), format!("127.0.0.3:{p2}"));
    let extra = "FAILOVER = auto\nFAILOVER_AFTER = 2s\nSYNC_EVERY = 1s\n[FILES]\nSEEDER =\n";
    let m_opts = || ha_opts("c1", &a1, &format!("c2={a2}"), true, extra);
    let s_opts = || ha_opts("c2", &a2, &format!("c1={a1}"), false, extra);
    let mut m = Daemon::start_with("ha-fail-1", m_opts());
    let mut s = Daemon::start_with("ha-fail-2", s_opts());
    burst(&mut m, 0, 20);
    wait_in_step(&mut m, &mut s);

    // A table changed behind the shadow's back is found and replaced.
    {
        let db = rusqlite::Connection::open(s.dir.join("var/luna.db")).unwrap();
        db.execute(
            "UPDATE node SET comment = 'tampered' WHERE name = 'n003'",
            [],
        )
        .unwrap();
        // Sealed columns too: a secret lost, a BMC password this controller
        // cannot open (as after a damaged row or a replaced key).
        db.execute("DELETE FROM nodesecrets", []).unwrap();
        db.execute(
            "UPDATE bmcsetup SET password = 'luna2d1:dGFtcGVyZWQtcHc=' WHERE name = 'compute'",
            [],
        )
        .unwrap();
    }
    let repaired = wait_until(Duration::from_secs(15), || {
        s.get("/config/node/n003").json()["config"]["node"]["n003"]["comment"] != "tampered"
    });
    assert!(repaired, "{}", s.log());
    wait_in_step(&mut m, &mut s);
    let sec = s.get("/config/secrets/node/n000").json();
    assert!(sec.to_string().contains("secret 0"), "{sec}");
    let pw = |d: &mut Daemon| {
        d.get("/config/bmcsetup/compute").json()["config"]["bmcsetup"]["compute"]["password"]
            .clone()
    };
    assert_eq!(pw(&mut s), pw(&mut m));
    assert!(
        pw(&mut s).as_str().is_some_and(|p| !p.is_empty()),
        "{}",
        pw(&mut s)
    );
    // Sealed again on the shadow, with its own key.
    let stored = crate::util::stored_bmc_password(&s.dir, "compute");
    assert!(stored.starts_with("luna2d1:"), "{stored}");

    // An image packed on the master reaches the shadow's files.
    let root = m.dir.join("var/images/compute");
    for d in ["boot", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("boot/vmlinuz-6.1.0"), vec![7u8; 300_000]).unwrap();
    std::fs::write(root.join("boot/initrd.img-6.1.0"), vec![9u8; 200_000]).unwrap();
    std::fs::write(root.join("etc/marker"), "synced").unwrap();
    let r = m.get("/config/osimage/compute/_pack");
    assert_eq!(r.status, 200, "{}", r.text());
    let packed = wait_until(Duration::from_secs(30), || {
        m.get("/config/osimage/compute").json()["config"]["osimage"]["compute"]["imagefile"]
            .is_string()
    });
    assert!(packed, "{}", m.log());
    let img = m.get("/config/osimage/compute").json()["config"]["osimage"]["compute"].clone();
    let fetched = wait_until(Duration::from_secs(20), || {
        ["kernelfile", "initrdfile", "imagefile"].iter().all(|k| {
            let name = img[*k].as_str().unwrap_or("");
            let (a, b) = (
                m.dir.join("var/files").join(name),
                s.dir.join("var/files").join(name),
            );
            b.is_file() && std::fs::read(&a).ok() == std::fs::read(&b).ok()
        })
    });
    assert!(fetched, "the shadow did not fetch the image:\n{}", s.log());
    let torrent = format!("{}.torrent", img["imagefile"].as_str().unwrap());
    assert!(s.dir.join("var/files").join(torrent).is_file());

    // The master dies: the shadow takes over, and accepts changes.
    let dir = m.dir.clone();
    m.kill();
    let took = wait_until(Duration::from_secs(15), || {
        s.get("/ha/master").status == 200
    });
    assert!(took, "the shadow did not take over:\n{}", s.log());
    let r = s.post("/config/node/after", node("after", json!({})));
    assert_eq!(r.status, 201, "{}", r.text());

    // The old master returns, sees the newer master and becomes shadow; it
    // refuses changes and receives what it missed.
    let mut old = Daemon::start_in(&dir, m_opts());
    let stepped = wait_until(Duration::from_secs(15), || {
        old.get("/ha/master").status == 404
    });
    assert!(stepped, "the old master did not step down:\n{}", old.log());
    let r = old.post("/config/node/late", node("late", json!({})));
    assert_eq!(r.status, 503, "{}", r.text());
    let r = s.post("/config/node/after2", node("after2", json!({})));
    assert_eq!(r.status, 201, "{}", r.text());
    let got = wait_until(Duration::from_secs(20), || {
        old.get("/config/node/after2").status == 200 && old.get("/config/node/after").status == 200
    });
    assert!(got, "{}\n{}", old.log(), s.log());
}
