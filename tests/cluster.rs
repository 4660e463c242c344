//! `/config/cluster`.

use serde_json::json;

use crate::util::Daemon;

#[test]
fn cluster_shows_settings_and_the_controller() {
    let mut d = Daemon::start("cluster-show");
    let c = d.get("/config/cluster").json()["config"]["cluster"].clone();
    assert_eq!(c["name"], json!("mycluster"));
    assert_eq!(c["provision_method"], json!("torrent"));
    assert_eq!(c["provision_fallback"], json!("http"));
    assert_eq!(c["controller"]["ipaddress"], json!("10.141.255.254"));
    assert_eq!(
        c["controller"]["ipaddr"],
        json!("10.141.255.254"),
        "the spec's name too"
    );
    assert_eq!(c["controller"]["hostname"], json!("controller"));
}

#[test]
fn cluster_updates_settings_but_not_controllers() {
    let mut d = Daemon::start("cluster-update");
    let r = d.post(
        "/config/cluster",
        json!({"config": {"cluster": {"ntp_server": "10.141.255.252", "debug": true, "technical_contacts": "ops@example.org", "provision_method": "http"}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let c = d.get("/config/cluster").json()["config"]["cluster"].clone();
    assert_eq!(c["ntp_server"], json!("10.141.255.252"));
    assert_eq!(c["debug"], json!(true));
    assert_eq!(c["provision_method"], json!("http"));
    // Groups inherit the cluster's provisioning method.
    let g = d.get("/config/group/compute").json()["config"]["group"]["compute"].clone();
    assert_eq!(g["provision_method"], json!("http"));
    assert_eq!(g["_provision_method_source"], json!("cluster"));

    for (body, needle) in [
        (
            json!({"controller": {"ipaddress": "10.141.255.250"}}),
            "controller",
        ),
        (json!({"ntp_server": "not-an-ip"}), "ntp_server"),
        (
            json!({"provision_method": "carrier-pigeon"}),
            "provision_method",
        ),
        (json!({"bogus": 1}), "bogus"),
        (json!({"debug": "maybe"}), "debug"),
    ] {
        let r = d.post("/config/cluster", json!({"config": {"cluster": body}}));
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.message().contains(needle), "{}", r.message());
    }
    // Nothing of the refused requests was applied.
    let c = d.get("/config/cluster").json()["config"]["cluster"].clone();
    assert_eq!(c["ntp_server"], json!("10.141.255.252"));
    assert_eq!(c["controller"]["ipaddress"], json!("10.141.255.254"));
}
