//! `/table/hashes` and `/table/data/{name}`.

use serde_json::json;

use crate::util::Daemon;

#[test]
fn hashes_change_exactly_with_content_and_data_needs_a_token() {
    let mut d = Daemon::start("tables");
    let h1 = d.get("/table/hashes").json()["table"]["hashes"].clone();
    let h1_again = d.get("/table/hashes").json()["table"]["hashes"].clone();
    assert_eq!(h1, h1_again, "stable");
    assert_eq!(h1["node"].as_str().unwrap().len(), 64);
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"group": "compute"}}}})
        )
        .status,
        201
    );
    let h2 = d.get("/table/hashes").json()["table"]["hashes"].clone();
    assert_ne!(h1["node"], h2["node"]);
    assert_ne!(h1["nodeinterface"], h2["nodeinterface"]);
    assert_eq!(h1["cloud"], h2["cloud"], "untouched tables keep their hash");
    // Changing a value and changing it back restores the hash.
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"comment": "x"}}}})
        )
        .status,
        204
    );
    assert_ne!(
        d.get("/table/hashes").json()["table"]["hashes"]["node"],
        h2["node"]
    );
    assert_eq!(
        d.post(
            "/config/node/n1",
            json!({"config": {"node": {"n1": {"comment": null}}}})
        )
        .status,
        204
    );
    assert_eq!(
        d.get("/table/hashes").json()["table"]["hashes"]["node"],
        h2["node"]
    );

    let data = d.get("/table/data/node").json();
    assert_eq!(data["table"]["data"]["node"][0]["name"], json!("n1"));
    let bmc = d.get("/table/data/bmcsetup").json();
    let row = &bmc["table"]["data"]["bmcsetup"][0];
    assert_eq!(row["name"], json!("compute"));
    // Sealed at rest, answered opened (a peer seals it with its own key),
    // like /config/bmcsetup: only with a token.
    let shown = d.get("/config/bmcsetup/compute").json();
    assert_eq!(
        row["password"], shown["config"]["bmcsetup"]["compute"]["password"],
        "{row}"
    );
    assert!(!row["password"]
        .as_str()
        .unwrap_or("luna2d1:")
        .starts_with("luna2d1:"));
    assert_eq!(d.get_open("/table/data/bmcsetup").status, 401);
    assert_eq!(d.get("/table/data/status").status, 404);
    assert_eq!(d.get("/table/data/sqlite_master").status, 404);
    assert_eq!(d.get_open("/table/hashes").status, 401);
}
