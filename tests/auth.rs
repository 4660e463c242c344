//! Tokens: issue, require, reject.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::util::{Daemon, Options};

#[test]
fn token_is_issued_for_the_configured_credentials() {
    let mut d = Daemon::start("token");
    let r = d.post_raw(
        "/token",
        None,
        r#"{"username": "luna", "password": "luna"}"#,
    );
    assert_eq!(r.status, 201);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let r = d.post_raw(
        "/token",
        None,
        r#"{"username": "luna", "password": "wrong"}"#,
    );
    assert_eq!(r.status, 401);
    let r = d.post_raw(
        "/token",
        None,
        r#"{"username": "root", "password": "luna"}"#,
    );
    assert_eq!(r.status, 401);
    for bad in [
        r#"{"username": "luna"}"#,
        r#"{"password": "x"}"#,
        "{",
        r#"{"username": "luna", "password": "luna", "x": 1}"#,
    ] {
        let r = d.post_raw("/token", None, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

#[test]
fn protected_routes_need_a_valid_token() {
    let mut d = Daemon::start("needtoken");
    let token = d.token();
    for path in [
        "/config/node",
        "/config/group",
        "/config/network",
        "/config/cluster",
        "/config/group/compute",
    ] {
        assert_eq!(d.get_open(path).status, 401, "{path}");
        let r = d.request("GET", path, &[("x-access-tokens", "not.a.jwt")], None);
        assert_eq!(r.status, 401, "{path}");
        // Same header and claims, wrong signature.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        let r = d.request("GET", path, &[("x-access-tokens", &forged)], None);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(d.get(path).status, 200, "{path}");
    }
    let r = d.post_raw(
        "/config/node/n1",
        None,
        r#"{"config": {"node": {"n1": {"group": "compute"}}}}"#,
    );
    assert_eq!(r.status, 401);
    assert!(r.message().contains("token"));
}

#[test]
fn expired_tokens_are_refused() {
    let mut d = Daemon::start_with(
        "expiry",
        Options {
            ini: "[API]\nEXPIRY = 1s\n".into(),
            ..Default::default()
        },
    );
    let token = d.token();
    assert_eq!(
        d.request("GET", "/config/node", &[("x-access-tokens", &token)], None)
            .status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = d.request("GET", "/config/node", &[("x-access-tokens", &token)], None);
    assert_eq!(r.status, 401, "{}", r.text());
}

#[test]
fn a_random_secret_is_generated_with_mode_0600() {
    let d = Daemon::start("secret");
    let path = d.dir.join("var/secret.key");
    let meta = std::fs::metadata(&path).expect("secret.key exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(meta.len() >= 32);
    // A second installation gets a different secret.
    let d2 = Daemon::start("secret2");
    let other = std::fs::read(d2.dir.join("var/secret.key")).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), other);
    let _ = json!(null);
}

#[test]
fn a_configured_secret_is_used_and_tokens_cross_daemons() {
    let ini = "[API]\nSECRET_KEY = a-shared-secret-for-two-controllers\n";
    let mut a = Daemon::start_with(
        "shared-a",
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    let mut b = Daemon::start_with(
        "shared-b",
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    let token = a.token();
    assert_eq!(
        b.request(
            "GET",
            "/config/cluster",
            &[("x-access-tokens", &token)],
            None
        )
        .status,
        200
    );
    assert!(!b.dir.join("var/secret.key").exists());
}
