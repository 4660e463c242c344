//! Power, chassis and SEL control against simulated BMCs (`sim.rs`): ipmi_sim
//! over IPMI 2.0 and sushy-emulator over Redfish, on 127.x addresses. Also the
//! job queue behind control: polling, `/monitor/queue`, and a kill -9 while a
//! job runs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::sim::{require, IpmiSim, Redfish, RedfishOptions, SEL_WITH_ENTRIES};
use crate::util::{wait_until, Daemon, Options};

/// A daemon with quick BMC settings, `extra` appended to its [BMCCONTROL].
fn daemon(name: &str, extra: &str) -> Daemon {
    let ini = format!("[BMCCONTROL]\nBMC_TIMEOUT = 3s\nBMC_BATCH_DELAY = 0s\n{extra}");
    Daemon::start_with(
        name,
        Options {
            ini,
            ..Default::default()
        },
    )
}

/// A network for BMC addresses in `prefix`.0/24 and a BMC setup `setup`.
fn bmc_network(d: &mut Daemon, prefix: &str, setup: &str, setup_body: Value) {
    let r = d.post(
        "/config/network/bmcnet",
        json!({"config": {"network": {"bmcnet": {"network": format!("{prefix}.0/24"), "dhcp": false}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        &format!("/config/bmcsetup/{setup}"),
        json!({"config": {"bmcsetup": {setup: setup_body}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// Node `name` whose BMC interface has `ip`, driven with BMC setup `setup`.
fn bmc_node(d: &mut Daemon, name: &str, ip: &str, setup: &str) {
    let r = d.post(
        &format!("/config/node/{name}"),
        json!({"config": {"node": {name: {"group": "compute", "bmcsetup": setup,
            "interfaces": [{"interface": "BMC", "network": "bmcnet", "ipaddress": ip}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

fn ipmi_setup(password: &str) -> Value {
    json!({"username": "admin", "password": password, "port": 9623})
}

/// Polls `/control/status/{id}` until the job is complete; merges the polls.
fn poll_control(d: &mut Daemon, id: &str) -> Value {
    let mut merged = json!({});
    let mut complete = false;
    let done = wait_until(Duration::from_secs(60), || {
        let r = d.get(&format!("/control/status/{id}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        for (cmd, buckets) in v["control"].as_object().unwrap() {
            let target = merged
                .as_object_mut()
                .unwrap()
                .entry(cmd.clone())
                .or_insert(json!({}));
            for (k, val) in buckets.as_object().unwrap() {
                if val.is_object() {
                    let b = target
                        .as_object_mut()
                        .unwrap()
                        .entry(k.clone())
                        .or_insert(json!({}));
                    for (node, detail) in val.as_object().unwrap() {
                        b[node] = detail.clone();
                    }
                } else {
                    target[k] = val.clone();
                }
            }
        }
        complete = v["complete"] == json!(true);
        complete
    });
    assert!(done && complete, "job {id} did not complete: {merged}");
    merged
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn ipmi_single_node_actions_reach_the_bmc() {
    if !require(IpmiSim::available(), "ipmi_sim and ipmitool") {
        return;
    }
    let sim = IpmiSim::start_with("ctl-ipmi-one", "127.0.70.1", 9623, SEL_WITH_ENTRIES);
    let mut d = daemon("ctl-ipmi-one", "");
    bmc_network(&mut d, "127.0.70", "sim", ipmi_setup("admin"));
    bmc_node(&mut d, "n001", "127.0.70.1", "sim");
    sim.set_power(false);

    let r = d.get("/control/action/power/n001/_status");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys(&r.json()["control"]["power"]), ["off"], "{}", r.text());

    let r = d.get("/control/action/power/n001/_on");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(sim.power_is_on(), "the BMC was switched on");
    let r = d.get("/control/action/power/n001/_status");
    assert_eq!(keys(&r.json()["control"]["power"]), ["on"], "{}", r.text());
    let state = d.get("/monitor/node/n001").json();
    assert!(state.to_string().contains("power on"), "{state}");

    // ipmi_sim cycles a powered node off, then on again a second later.
    assert_eq!(d.get("/control/action/power/n001/_cycle").status, 204);
    let cycled = wait_until(Duration::from_secs(5), || {
        sim.chassis_log()
            .iter()
            .filter(|l| *l == "set power 1")
            .count()
            == 2
    });
    assert!(cycled, "{:?}", sim.chassis_log());
    for action in ["_reset", "_off"] {
        let r = d.get(&format!("/control/action/power/n001/{action}"));
        assert_eq!(r.status, 204, "{action}: {}", r.text());
    }
    assert!(!sim.power_is_on(), "switched off last");
    assert_eq!(d.get("/control/action/chassis/n001/_identify").status, 204);
    assert_eq!(
        d.get("/control/action/chassis/n001/_noidentify").status,
        204
    );

    let r = d.get("/control/action/sel/n001/_list");
    assert_eq!(r.status, 200, "{}", r.text());
    let listing = r.json()["control"]["sel"]["ok"]["n001"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let entries = listing.lines().filter(|l| l.contains(" | ")).count();
    assert_eq!(entries, 2, "two SEL entries: {listing}");
    assert_eq!(d.get("/control/action/sel/n001/_clear").status, 204);
    let r = d.get("/control/action/sel/n001/_list");
    let after = r.json()["control"]["sel"]["ok"]["n001"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!after.contains(" | "), "cleared: {after}");

    // Exactly what was sent, in order: the sim logs every chassis call (reads
    // are "get power"; SEL calls are not chassis calls).
    let sets: Vec<String> = sim
        .chassis_log()
        .into_iter()
        .filter(|l| l.starts_with("set "))
        .collect();
    assert_eq!(
        sets,
        [
            "set power 1",
            "set power 0",
            "set power 1",
            "set reset 1",
            "set power 0",
            "set identify 15 0",
            "set identify 0 0"
        ],
        "on, cycle (off, on), reset, off, identify, noidentify"
    );
}

#[test]
fn control_refusals_name_their_cause() {
    let mut d = daemon("ctl-refusals", "");
    bmc_network(&mut d, "127.0.73", "sim", ipmi_setup("admin"));
    // A node without a BMC interface (in a group without one: the default
    // group's BMC addresses are 10.x, never contacted by a test), one whose
    // BMC is silent.
    let r = d.post(
        "/config/group/bare",
        json!({"config": {"group": {"bare": {"interfaces": []}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/node/nobmc",
        json!({"config": {"node": {"nobmc": {"group": "bare"}}}}),
    );
    assert_eq!(r.status, 201);
    let ifaces =
        d.get("/config/node/nobmc").json()["config"]["node"]["nobmc"]["interfaces"].clone();
    assert!(!ifaces.to_string().contains("BMC"), "{ifaces}");
    bmc_node(&mut d, "silent", "127.0.73.9", "sim");

    let r = d.get("/control/action/power/ghost/_status");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.message().contains("ghost"), "{}", r.text());
    let r = d.get("/control/action/power/nobmc/_on");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.message().contains("no BMC interface"), "{}", r.text());
    let r = d.get("/control/action/power/silent/_status");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.message().contains("no answer from the BMC at 127.0.73.9"),
        "{}",
        r.text()
    );
    let r = d.get("/control/action/power/silent/_explode");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.message().contains("explode"), "{}", r.text());

    let body = |list: &str| json!({"control": {"power": {"status": {"hostlist": list}}}});
    let r = d.post("/control/action/power/_status", body("node[1-"));
    assert_eq!(r.status, 404, "invalid hostlist: {}", r.text());
    assert!(r.message().contains("hostlist"), "{}", r.text());
    let r = d.post("/control/action/power/_status", json!({"control": {}}));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.post("/control/action/power/_on", body("nobmc"));
    assert_eq!(r.status, 400, "body and URL disagree: {}", r.text());

    let r = d.get("/control/status/0123456789abcdef");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.get("/config/status/0123456789abcdef");
    assert_eq!(r.status, 404, "{}", r.text());
    for path in [
        "/control/action/power/nobmc/_status",
        "/control/status/0123456789abcdef",
        "/config/status/0123456789abcdef",
        "/monitor/queue",
        "/monitor/status",
    ] {
        assert_eq!(d.get_open(path).status, 401, "{path} without a token");
    }
}

#[test]
fn a_hostlist_is_run_in_batches_and_sorted_by_outcome() {
    if !require(IpmiSim::available(), "ipmi_sim and ipmitool") {
        return;
    }
    // Eighteen live BMCs and two addresses where nothing listens.
    let sims: Vec<IpmiSim> = (1..=18)
        .map(|i| IpmiSim::start(&format!("ctl-bulk-{i}"), &format!("127.0.71.{i}"), 9623))
        .collect();
    let mut d = daemon("ctl-bulk", "BMC_BATCH_SIZE = 10\n");
    bmc_network(&mut d, "127.0.71", "sim", ipmi_setup("admin"));
    for i in 1..=20 {
        bmc_node(
            &mut d,
            &format!("node{i:03}"),
            &format!("127.0.71.{i}"),
            "sim",
        );
    }
    for (i, sim) in sims.iter().enumerate() {
        sim.set_power(i % 2 == 0);
    }

    // Up to one batch: answered with the results.
    let r = d.post(
        "/control/action/power/_status",
        json!({"control": {"power": {"status": {"hostlist": "node[001-003]"}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["control"]["power"]["on"]["hostlist"], "node[001,003]",
        "{v}"
    );
    assert_eq!(v["control"]["power"]["off"]["hostlist"], "node002", "{v}");

    // Twenty: queued, polled.
    let r = d.post(
        "/control/action/power/_on",
        json!({"control": {"power": {"on": {"hostlist": "node[001-020]"}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let v = poll_control(&mut d, &id);
    assert_eq!(keys(&v["failed"]), ["node019", "node020"], "{v}");
    assert_eq!(keys(&v["power"]["on"]).len(), 18, "{v}");
    for sim in &sims {
        assert!(sim.power_is_on(), "{:?}", sim.addr());
        assert!(sim.chassis_log().contains(&"set power 1".to_string()));
    }
    // Each message is returned once.
    let again = d.get(&format!("/control/status/{id}")).json();
    assert_eq!(again["control"]["failed"], json!({}), "{again}");
    assert_eq!(again["control"]["power"]["on"], json!({}), "{again}");
}

#[test]
fn the_password_never_reaches_a_command_line() {
    if !require(IpmiSim::available(), "ipmitool") {
        return;
    }
    let secret = "Zq7-not-on-argv";
    let mut d = daemon("ctl-argv", "BMC_TIMEOUT = 4s\nCONTROL_WAIT = 0s\n");
    bmc_network(&mut d, "127.0.74", "quiet", ipmi_setup(secret));
    bmc_node(&mut d, "n1", "127.0.74.1", "quiet");
    let r = d.post(
        "/control/action/power/_status",
        json!({"control": {"power": {"status": {"hostlist": "n1"}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The silent BMC keeps ipmitool running for seconds: look at it.
    let mut seen = Vec::new();
    wait_until(Duration::from_secs(5), || {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.starts_with("ipmitool") && cmd.contains("127.0.74.1") {
                    seen.push(cmd);
                }
            }
        }
        !seen.is_empty()
    });
    assert!(!seen.is_empty(), "ipmitool was never seen running");
    for cmd in &seen {
        assert!(!cmd.contains(secret), "{cmd}");
        assert!(cmd.contains(" -E "), "{cmd}");
        assert!(!cmd.contains(" -P "), "{cmd}");
    }
}

#[test]
fn a_job_running_at_kill_is_failed_and_a_queued_one_runs_after_restart() {
    if !require(IpmiSim::available(), "ipmi_sim and ipmitool") {
        return;
    }
    let sim = IpmiSim::start("ctl-kill", "127.0.75.1", 9623);
    sim.set_power(false);
    let opts = || {
        Options {
        ini: "[BMCCONTROL]\nBMC_TIMEOUT = 10s\nBMC_BATCH_DELAY = 0s\nCONTROL_WAIT = 0s\nJOB_WORKERS = 1\n"
            .into(),
        ..Default::default()
    }
    };
    let mut d = Daemon::start_with("ctl-kill", opts());
    bmc_network(&mut d, "127.0.75", "sim", ipmi_setup("admin"));
    bmc_node(&mut d, "live", "127.0.75.1", "sim");
    bmc_node(&mut d, "dead", "127.0.75.2", "sim");
    let post = |d: &mut Daemon, action: &str, list: &str| {
        let r = d.post(
            &format!("/control/action/power/_{action}"),
            json!({"control": {"power": {action: {"hostlist": list}}}}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["request_id"].as_str().unwrap().to_string()
    };
    let slow = post(&mut d, "status", "dead");
    let queued = post(&mut d, "on", "live");
    // The same task again collapses into the queued one...
    assert_eq!(post(&mut d, "on", "live"), queued);
    // ...but not across another task on the same nodes: off then on stay
    // two more jobs, run in order.
    let off = post(&mut d, "off", "live");
    let on_again = post(&mut d, "on", "live");
    assert!(off != queued && on_again != queued && on_again != off);
    let listed = wait_until(Duration::from_secs(5), || {
        let q = d.get("/monitor/queue").json();
        let rows = q["monitor"]["queue"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        rows.len() == 4
            && rows[0]["request_id"] == slow.as_str()
            && rows[0]["status"] == "running"
            && rows[1]["status"] == "queued"
            && rows[1]["task"] == "power on live"
            && rows[2]["task"] == "power off live"
            && rows[3]["task"] == "power on live"
    });
    assert!(listed, "{}", d.get("/monitor/queue").text());
    d.kill();
    assert!(
        !sim.power_is_on(),
        "the queued job did not run before the kill"
    );

    let mut d = Daemon::start_in(&d.dir.clone(), opts());
    let v = poll_control(&mut d, &queued);
    assert_eq!(keys(&v["power"]["on"]), ["live"], "{v}");
    let v = poll_control(&mut d, &off);
    assert_eq!(keys(&v["power"]["off"]), ["live"], "{v}");
    let v = poll_control(&mut d, &on_again);
    assert_eq!(keys(&v["power"]["on"]), ["live"], "{v}");
    assert!(sim.power_is_on(), "on, off, on: on");
    let sets: Vec<String> = sim
        .chassis_log()
        .into_iter()
        .filter(|l| l.starts_with("set power"))
        .collect();
    assert_eq!(
        sets,
        ["set power 1", "set power 0", "set power 1"],
        "in order"
    );
    let r = d.get(&format!("/config/status/{slow}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("interrupted"), "{text}");
    // Read once: the next poll has nothing new.
    let r = d.get(&format!("/config/status/{slow}"));
    assert_eq!(r.json()[&slow], json!([]), "{}", r.text());
    let q = d.get("/monitor/queue").json();
    assert_eq!(q["monitor"]["queue"], json!([]), "{q}");
}

#[test]
fn monitor_status_lists_and_accepts_messages() {
    let mut d = daemon("ctl-monitor-status", "");
    let r = d.post(
        "/monitor/status",
        json!({"monitor": {"status": {"request_id": "remote-1",
            "messages": [{"message": "osimage compute sync finished"}]}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.post(
        "/monitor/status",
        json!({"monitor": {"status": {"messages": [{"message": "x"}]}}}),
    );
    assert_eq!(r.status, 400, "no request id: {}", r.text());
    let v = d.get("/monitor/status").json();
    let rows = v["monitor"]["status"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["request_id"] == "remote-1")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(row["message"], "osimage compute sync finished");
    assert_eq!(row["read"], 0);
    for key in ["username_initiator", "created"] {
        assert!(row.get(key).is_some(), "{key}: {row}");
    }
    let r = d.get("/config/status/remote-1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["remote-1"][0]["message"],
        "osimage compute sync finished"
    );
}

#[test]
fn redfish_power_settings_and_upload() {
    if !require(
        Redfish::available(),
        "sushy-emulator (pip sushy-tools), openssl, curl",
    ) {
        return;
    }
    let rf = Redfish::start_with(
        "ctl-redfish",
        "127.0.72.1",
        8443,
        RedfishOptions {
            power_on: true,
            ..Default::default()
        },
    );
    let sys = rf.system_ids()[0].clone();
    let extra = format!("REDFISH_CA_FILE = {}\n", rf.ca_file().display());
    let mut d = daemon("ctl-redfish", &extra);
    bmc_network(
        &mut d,
        "127.0.72",
        "rf",
        json!({"username": "admin", "password": "admin", "protocol": "redfish", "port": 8443}),
    );
    bmc_node(&mut d, "r001", "127.0.72.1", "rf");

    let r = d.get("/control/action/power/r001/_status");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys(&r.json()["control"]["power"]), ["on"], "{}", r.text());
    assert_eq!(d.get("/control/action/power/r001/_off").status, 204);
    assert_eq!(rf.power_state(&sys), "Off");
    let r = d.get("/control/action/power/r001/_status");
    assert_eq!(keys(&r.json()["control"]["power"]), ["off"], "{}", r.text());
    assert_eq!(d.get("/control/action/power/r001/_on").status, 204);
    assert_eq!(rf.power_state(&sys), "On");

    let r = d.post(
        "/control/action/redfish/r001/_setting",
        json!({"control": {"redfish": {"setting": {"Boot": {
            "BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let boot = rf.system(&sys)["Boot"].clone();
    assert_eq!(boot["BootSourceOverrideTarget"], "Pxe", "{boot}");

    assert_eq!(d.get("/control/action/power/r001/_cycle").status, 204);
    assert_eq!(rf.power_state(&sys), "On", "cycled: off, then on");
    assert_eq!(d.get("/control/action/chassis/r001/_identify").status, 204);
    assert_eq!(rf.system(&sys)["IndicatorLED"], "Blinking");
    assert_eq!(
        d.get("/control/action/chassis/r001/_noidentify").status,
        204
    );
    assert_eq!(rf.system(&sys)["IndicatorLED"], "Off");
    // The emulator keeps no event log: the refusal says so.
    let r = d.get("/control/action/sel/r001/_list");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.message().contains("log service"), "{}", r.text());

    let r = d.post(
        "/control/action/redfish/r001/_upload",
        json!({"control": {"redfish": {"upload": {"path": "SecureBoot",
            "document": {"SecureBootEnable": true}}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let secure = rf.get(&format!("/redfish/v1/Systems/{sys}/SecureBoot"));
    assert_eq!(secure["SecureBootEnable"], true, "{secure}");
    let r = d.post(
        "/control/action/redfish/r001/_upload",
        json!({"control": {"redfish": {"upload": {"path": "../../Managers",
            "document": {"x": 1}}}}}),
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.message().contains("invalid Redfish path"), "{}", r.text());

    // Certificate checking: without the CA the BMC is refused.
    let mut strict = daemon("ctl-redfish-strict", "");
    bmc_network(
        &mut strict,
        "127.0.72",
        "rf",
        json!({"username": "admin", "password": "admin", "protocol": "redfish", "port": 8443}),
    );
    bmc_node(&mut strict, "r001", "127.0.72.1", "rf");
    let r = strict.get("/control/action/power/r001/_status");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.message().to_lowercase().contains("certificate"),
        "{}",
        r.text()
    );
    // An IPMI node cannot take Redfish settings.
    let r = d.post(
        "/config/bmcsetup/ipmi1",
        json!({"config": {"bmcsetup": {"ipmi1": {"username": "a", "password": "b"}}}}),
    );
    assert_eq!(r.status, 201);
    bmc_node(&mut d, "i001", "127.0.72.9", "ipmi1");
    let r = d.post(
        "/control/action/redfish/i001/_setting",
        json!({"control": {"redfish": {"setting": {"Boot": {}}}}}),
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.message().contains("IPMI"), "{}", r.text());
}
