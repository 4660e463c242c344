//! Nothing sensitive readable on the head node: the data directory and its
//! files are the daemon's user's alone, a database or key file others can read
//! stops start-up, the default API password is refused off loopback, and the
//! log never carries a token, password or secret.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::util::{temp_dir, Daemon, Options};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs luna2d to its exit (it is expected to refuse to start): its status
/// and what it printed.
fn refused(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_luna2d"))
        .args(args)
        .arg("--data")
        .arg(dir.join("var"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_data_directory_is_the_owners_alone() {
    let mut d = Daemon::start("at-rest-modes");
    let r = d.post(
        "/config/node/x",
        json!({"config": {"node": {"x": {"group": "compute"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let var = d.dir.join("var");
    // dhcpd and named (their own users) read the generated configs under
    // var/dhcp and var/dns: those are 0755 and var itself only passable.
    assert_eq!(mode(&var), 0o711, "the data directory");
    let shared = [var.join("dhcp"), var.join("dns")];
    for dir in &shared {
        assert_eq!(mode(dir), 0o755, "{}", dir.display());
    }
    let mut seen = 0;
    let mut stack = vec![var.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if shared.contains(&path) {
                continue;
            }
            if meta.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else if meta.is_file() {
                assert_eq!(
                    mode(&path) & 0o077,
                    0,
                    "{} is open to others",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    for file in ["luna.db", "luna.key", "secret.key"] {
        assert_eq!(mode(&var.join(file)), 0o600, "{file}");
    }
    assert!(seen >= 3, "the walk saw the files");
}

#[test]
fn a_database_or_key_others_can_read_stops_start_up() {
    for file in ["luna.db", "luna.key", "secret.key"] {
        let mut d = Daemon::start("at-rest-refuse");
        let dir = d.dir.clone();
        d.kill();
        let path = dir.join("var").join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, said) = refused(&["--listen", "127.0.0.1:0"], &dir);
        assert_ne!(code, Some(0), "{file}: {said}");
        assert!(
            said.contains(&format!(
                "{file} is open to users other than its owner (mode 644)"
            )) && said.contains("chmod 600"),
            "{file}: {said}"
        );
        // Fixed as it says, it starts again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut d = Daemon::start_in(&dir, Options::default());
        assert_eq!(d.get("/config/node").status, 200);
    }
}

#[test]
fn the_default_api_password_is_only_for_loopback() {
    let dir = temp_dir("at-rest-password");
    let (code, said) = refused(&["--listen", "0.0.0.0:0"], &dir);
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("default API password") && said.contains("[API] PASSWORD"),
        "{said}"
    );
    // With a password of its own it starts (and is stopped at once).
    let ini = dir.join("own.ini");
    std::fs::write(&ini, "[API]\nPASSWORD = a-password-of-its-own\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_luna2d"))
        .args(["--listen", "0.0.0.0:0", "--config"])
        .arg(&ini)
        .arg("--data")
        .arg(dir.join("var"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("luna2d listening on"), "{line}");
}

#[test]
fn the_log_carries_no_token_password_or_secret() {
    let mut d = Daemon::start_with(
        "at-rest-log",
        Options {
            ini: "[LOGGER]\nLEVEL = debug\n[API]\nPASSWORD = LOG-CANARY-APIPW\n".into(),
            ..Default::default()
        },
    );
    let token = d.token_for("luna", "LOG-CANARY-APIPW");
    // A wrong password too: refused, and not written down either.
    let r = d.post_raw(
        "/token",
        None,
        r#"{"username": "luna", "password": "LOG-CANARY-WRONGPW"}"#,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"n1": {"group": "compute"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/secrets/node/n1",
        json!({"config": {"secrets": {"node": {"n1": [
            {"name": "k", "content": "LOG-CANARY-SECRET", "path": "/etc/k"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/bmcsetup/compute",
        json!({"config": {"bmcsetup": {"compute": {"password": "LOG-CANARY-BMCPW"}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // A bad value next to a password: the refusal names the field, not the password.
    let r = d.post(
        "/config/bmcsetup/compute",
        json!({"config": {"bmcsetup": {"compute": {"password": "LOG-CANARY-BMCPW2", "userid": "x"}}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // The install script embeds a node token and the BMC password.
    let script = d.get("/boot/install/n1").text();
    assert!(script.contains("LOG-CANARY-BMCPW"), "{script}");
    let node_token = script
        .lines()
        .find_map(|l| l.strip_prefix("export LUNA_TOKEN=\""))
        .map(|t| t.trim_end_matches('"').to_string())
        .unwrap();
    assert_eq!(
        d.get(&format!("/config/secrets/node/n1?token={token}"))
            .status,
        200
    );
    let secrets = d.get("/config/secrets/node/n1").text();
    assert!(secrets.contains("LOG-CANARY-SECRET"), "{secrets}");
    let log = d.log();
    assert!(
        log.contains("POST /config/secrets/node/n1"),
        "the log is on: {log}"
    );
    for canary in [
        "LOG-CANARY-APIPW",
        "LOG-CANARY-WRONGPW",
        "LOG-CANARY-SECRET",
        "LOG-CANARY-BMCPW",
        token.as_str(),
        node_token.as_str(),
    ] {
        assert!(!log.contains(canary), "the log holds {canary}:\n{log}");
    }
}
