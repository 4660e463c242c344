//! `POST /tpm/{node}`: node tokens for nodes that prove themselves by their
//! TPM; trust on first use without cluster security, a recorded match with it.

use serde_json::json;

use crate::util::Daemon;

const A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const B: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

fn tpm(d: &mut Daemon, node: &str, body: serde_json::Value) -> crate::util::Response {
    d.request(
        "POST",
        &format!("/tpm/{node}"),
        &[],
        Some(body.to_string().as_bytes()),
    )
}

#[test]
fn tpm_tokens_are_node_tokens() {
    let mut d = Daemon::start("tpm");
    for n in ["n1", "n2"] {
        let r = d.post(
            &format!("/config/node/{n}"),
            json!({"config": {"node": {n: {"group": "compute"}}}}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // Security off: the first value is recorded, later ones must match it.
    let r = tpm(&mut d, "n1", json!({"tpm_sha256": A}));
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_string();
    let n1 = d.get("/config/node/n1").json();
    assert_eq!(n1["config"]["node"]["n1"]["tpm_sha256"], A, "{n1}");
    assert_eq!(
        tpm(&mut d, "n1", json!({"tpm_sha256": A.to_uppercase()})).status,
        200
    );
    let r = tpm(&mut d, "n1", json!({"tpm_sha256": B}));
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.message().contains("invalid TPM information"),
        "{}",
        r.text()
    );
    for (body, why) in [
        (json!({}), "missing"),
        (json!({"tpm_sha256": "xyz"}), "64 hexadecimal"),
    ] {
        let r = tpm(&mut d, "n1", body);
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(r.message().contains(why), "{}", r.text());
    }
    let r = tpm(&mut d, "ghost", json!({"tpm_sha256": A}));
    assert_eq!(r.status, 401);
    assert!(r.message().contains("invalid node"), "{}", r.text());

    // The token is n1's: its own endpoints, nothing else.
    let t = [("x-access-tokens", token.as_str())];
    let state = json!({"monitor": {"status": {"n1": {"state": "install.success"}}}}).to_string();
    let r = d.request("POST", "/monitor/node/n1", &t, Some(state.as_bytes()));
    assert_eq!(r.status, 204, "{}", r.text());
    let r = d.request("GET", "/boot/install/n1", &t, None);
    assert_eq!(r.status, 200, "its install script: {}", r.text());
    let state = json!({"monitor": {"status": {"n2": {"state": "install.success"}}}}).to_string();
    let r = d.request("POST", "/monitor/node/n2", &t, Some(state.as_bytes()));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(d.request("GET", "/boot/install/n2", &t, None).status, 401);
    assert_eq!(d.request("GET", "/config/node", &t, None).status, 401);
    assert_eq!(d.request("GET", "/config/cluster", &t, None).status, 401);

    // Security on: only a recorded value opens.
    let r = d.post(
        "/config/cluster",
        json!({"config": {"cluster": {"security": true}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = tpm(&mut d, "n2", json!({"tpm_sha256": B}));
    assert_eq!(r.status, 401);
    assert!(
        r.message().contains("does not have TPM information"),
        "{}",
        r.text()
    );
    let r = d.post(
        "/config/node/n2",
        json!({"config": {"node": {"n2": {"tpm_sha256": B}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(tpm(&mut d, "n2", json!({"tpm_sha256": B})).status, 200);
    assert_eq!(tpm(&mut d, "n2", json!({"tpm_sha256": A})).status, 401);
    assert_eq!(tpm(&mut d, "n1", json!({"tpm_sha256": A})).status, 200);
}
