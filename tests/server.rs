//! The HTTP layer: routing, content types, errors, restart durability.

use serde_json::json;

use crate::util::{Daemon, Options};

#[test]
fn version_and_ping_need_no_token() {
    let mut d = Daemon::start("version");
    let r = d.get_open("/version");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.json()["version"]["api"], json!(1));
    assert!(r.json()["version"]["luna"].is_string());
    let r = d.get_open("/ping");
    assert_eq!((r.status, r.json()), (200, json!({"message": "pong"})));
}

#[test]
fn unknown_routes_and_methods_answer_json_errors() {
    let mut d = Daemon::start("routes");
    let r = d.get_open("/no/such/thing");
    assert_eq!(r.status, 404);
    assert!(r.message().contains("/no/such/thing"), "{}", r.message());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let r = d.post_raw("/version", None, "{}");
    assert_eq!(r.status, 405);
    let r = d.get_open("/config/%zz");
    assert_eq!(r.status, 400);
}

#[test]
fn trailing_slash_and_percent_decoding() {
    let mut d = Daemon::start("paths");
    assert_eq!(d.get("/config/group/compute/").status, 200);
    assert_eq!(d.get("/config/group/comp%75te").status, 200);
    let r = d.get("/config/group/software%20license");
    assert_eq!(r.status, 404);
    assert!(
        r.message().contains("'software license'"),
        "{}",
        r.message()
    );
}

#[test]
fn malformed_json_is_400_naming_the_problem() {
    let mut d = Daemon::start("badjson");
    let t = d.token();
    for body in ["{", "{\"config\": {\"node\": }", "[1,2", "\u{1}"] {
        let r = d.post_raw("/config/node/n1", Some(&t), body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.message().contains("malformed JSON"), "{}", r.message());
    }
    let r = d.post_raw("/config/node/n1", Some(&t), "");
    assert_eq!(r.status, 400);
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"other": {"group": "compute"}}}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("other"), "{}", r.message());
    let r = d.post("/config/node/n1", json!({"cfg": {}}));
    assert_eq!(r.status, 400);
}

#[test]
fn data_survives_kill_9_and_restart() {
    let mut d = Daemon::start("restart");
    let r = d.post(
        "/config/node/keeper",
        json!({"config": {"node": {"keeper": {"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "02:00:00:00:00:01"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let token = d.token();
    let dir = d.dir.clone();
    d.kill(); // SIGKILL: no clean shutdown
    let mut d2 = Daemon::start_in(&dir, Options::default());
    // The signing secret persisted too: the old token still works.
    let r = d2.request(
        "GET",
        "/config/node/keeper",
        &[("x-access-tokens", &token)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let node = &r.json()["config"]["node"]["keeper"];
    assert_eq!(
        node["interfaces"][0]["macaddress"],
        json!("02:00:00:00:00:01")
    );
}

#[test]
fn help_and_bad_settings_stop_start_up_naming_the_problem() {
    let bin = env!("CARGO_BIN_EXE_luna2d");
    let out = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--config") && text.contains("--listen") && text.contains("--data"),
        "{text}"
    );

    let dir = crate::util::temp_dir("badini");
    for (ini, needle) in [
        ("[API]\nPASSWORT = x\n", "[API] PASSWORT"),
        ("[NOPE]\nX = 1\n", "[NOPE] X"),
        ("[SERVER]\nWORKERS = many\n", "WORKERS"),
        ("[API]\nEXPIRY = forever\n", "EXPIRY"),
        ("[LOGGER]\nLEVEL = loud\n", "LEVEL"),
    ] {
        let path = dir.join("bad.ini");
        std::fs::write(&path, ini).unwrap();
        let out = std::process::Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .arg("--data")
            .arg(dir.join("var"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{ini}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{ini}: {err}");
    }
    let out = std::process::Command::new(bin)
        .args(["--listen", "localhost:7050"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LISTEN"));
}

#[test]
fn every_request_is_logged_once() {
    let mut d = Daemon::start("logline");
    assert_eq!(d.get_open("/version").status, 200);
    assert_eq!(d.get_open("/config/node").status, 401);
    let ok = crate::util::wait_until(std::time::Duration::from_secs(5), || {
        let log = d.log();
        log.contains("GET /version 200") && log.contains("GET /config/node 401")
    });
    assert!(ok, "{}", d.log());
    assert_eq!(d.log().matches("GET /version 200").count(), 1);
}

#[test]
fn an_internal_error_is_a_500_and_the_daemon_keeps_serving() {
    let mut d = Daemon::start("internal");
    assert_eq!(d.get("/config/node").status, 200);
    // Break the schema behind the daemon's back: node queries now fail in SQLite.
    let db = rusqlite::Connection::open(d.dir.join("var/luna.db")).unwrap();
    db.execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE cloud;")
        .unwrap();
    for _ in 0..10 {
        let r = d.get("/config/node");
        assert_eq!(r.status, 500, "{}", r.text());
        assert!(r.message().contains("internal error"));
    }
    // Every worker is still alive and other routes work.
    for _ in 0..20 {
        assert_eq!(d.get("/config/network").status, 200);
    }
    assert!(
        d.log().contains("no such table"),
        "the detail is logged, not sent"
    );
}

/// Boot workers keep the default priority; admin workers yield the CPU to them.
#[test]
fn admin_workers_run_at_a_lower_priority_than_boot_workers() {
    let d = Daemon::start_with(
        "lanes",
        Options {
            ini: "[SERVER]\nWORKERS = 3\nBOOT_WORKERS = 2\n".into(),
            ..Default::default()
        },
    );
    let mut nice = std::collections::BTreeMap::new();
    let tasks = std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap();
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesized name: state is field 3, nice field 19.
        let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        let ni: i64 = after
            .split_whitespace()
            .nth(16)
            .and_then(|v| v.parse().ok())
            .unwrap_or(99);
        nice.insert(comm.trim().to_string(), ni);
    }
    let of = |prefix: &str| -> Vec<i64> {
        nice.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| *v)
            .collect()
    };
    assert_eq!(of("boot-"), vec![0, 0], "{nice:?}");
    assert_eq!(of("worker-"), vec![15, 15, 15], "{nice:?}");
}
