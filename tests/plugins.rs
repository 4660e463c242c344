//! `/export/prometheus` checked by the real `promtool check metrics`;
//! `/import/prometheus` rules checked by `promtool check rules` before they
//! replace the file.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::sim::{require, which};
use crate::util::Daemon;

fn promtool(args: &[&str], input: Option<&[u8]>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(bytes) = input {
        stdin.write_all(bytes).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn prometheus_metrics_and_rules() {
    if !require(
        which("promtool").is_some(),
        "promtool (Debian package prometheus)",
    ) {
        return;
    }
    let mut d = Daemon::start("plugins");
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"n1": {"group": "compute"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let state = json!({"monitor": {"status": {"n1": {"state": "install.fail"}}}});
    assert_eq!(d.post("/monitor/node/n1", state).status, 204);

    let r = d.get_open("/export/prometheus");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("Content-Type")
            .unwrap_or("")
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.header("Content-Type")
    );
    let text = r.text();
    let (ok, said) = promtool(&["check", "metrics"], Some(text.as_bytes()));
    assert!(ok, "promtool check metrics: {said}\n{text}");
    assert!(
        text.contains("luna_node_state{node=\"n1\",state=\"install.fail\"} 1"),
        "{text}"
    );
    assert!(text.contains("luna_node_failing{node=\"n1\"} 1"), "{text}");
    assert!(
        text.contains("luna_queue_jobs{status=\"queued\"} 0"),
        "{text}"
    );
    assert!(text.contains("luna_service_up{service=\"dhcp\"}"), "{text}");
    let config_requests = text
        .lines()
        .find_map(|l| l.strip_prefix("luna_http_requests_total{class=\"config\"} "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(config_requests >= 1, "{text}");
    assert_eq!(d.get_open("/export/nope").status, 404);

    // Rules: imported when promtool accepts them.
    let rules = json!({"rules": [{"alert": "NodeFailing", "expr": "luna_node_failing == 1",
        "for": "5m", "labels": {"severity": "warning"}}]});
    let body = rules.to_string();
    assert_eq!(
        d.request("POST", "/import/prometheus", &[], Some(body.as_bytes()))
            .status,
        401
    );
    let r = d.post("/import/prometheus", rules);
    assert_eq!(r.status, 200, "{}", r.text());
    let file = d.dir.join("var/prometheus/luna.rules.yml");
    let written = std::fs::read_to_string(&file).unwrap();
    let path = file.display().to_string();
    let (ok, said) = promtool(&["check", "rules", &path], None);
    assert!(ok, "promtool check rules: {said}\n{written}");
    // A rule promtool refuses is not installed; the old file stays.
    let r = d.post(
        "/import/prometheus",
        json!({"rules": [{"alert": "Broken", "expr": "luna_node_failing =="}]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.message().contains("promtool"), "{}", r.text());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    let r = d.post("/import/prometheus", json!({"rules": [{"expr": "up"}]}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(d.post("/import/nope", json!({})).status, 404);
}
