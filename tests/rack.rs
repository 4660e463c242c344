//! Racks and inventory.

use serde_json::{json, Value};

use crate::util::Daemon;

fn rack(name: &str, v: Value) -> Value {
    json!({"config": {"rack": { name: v }}})
}

#[test]
fn racks_place_devices_without_overlap() {
    let mut d = Daemon::start("racks");
    for n in ["node001", "node002"] {
        assert_eq!(
            d.post(
                &format!("/config/node/{n}"),
                json!({"config": {"node": {n: {"group": "compute", "vendor": "Dell"}}}})
            )
            .status,
            201
        );
    }
    assert_eq!(
        d.post(
            "/config/switch/sw1",
            json!({"config": {"switch": {"sw1": {}}}})
        )
        .status,
        201
    );
    let r = d.post(
        "/config/rack/rack001",
        rack(
            "rack001",
            json!({"size": 10, "room": "Basement", "devices": [
                {"name": "node001", "type": "node", "height": 2, "position": 1},
                {"name": "sw1", "type": "switch", "position": 10, "orientation": "back"}
            ]}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r1 = d.get("/config/rack/rack001").json()["config"]["rack"]["rack001"].clone();
    assert_eq!(
        (r1["size"].clone(), r1["order"].clone()),
        (json!(10), json!("ascending"))
    );
    assert_eq!(
        r1["devices"],
        json!([
            {"name": "node001", "type": "node", "vendor": "Dell", "height": 2, "orientation": "front", "position": 1},
            {"name": "sw1", "type": "switch", "vendor": null, "height": 1, "orientation": "back", "position": 10}
        ])
    );
    for (devices, needle) in [
        (
            json!([{"name": "node002", "type": "node", "position": 2}]),
            "overlaps node001",
        ),
        (
            json!([{"name": "node002", "type": "node", "position": 10, "height": 2}]),
            "does not fit",
        ),
        (
            json!([{"name": "node002", "type": "node", "position": 0}]),
            "does not fit",
        ),
        (
            json!([{"name": "nope", "type": "node", "position": 5}]),
            "does not exist",
        ),
        (
            json!([{"name": "node002", "type": "toaster", "position": 5}]),
            "unknown device type",
        ),
        (
            json!([{"name": "node002", "type": "node"}]),
            "needs a position",
        ),
    ] {
        let r = d.post(
            "/config/rack/rack001",
            rack("rack001", json!({"devices": devices.clone()})),
        );
        assert_eq!(r.status, 400, "{devices}: {}", r.text());
        assert!(r.message().contains(needle), "{devices}: {}", r.message());
    }
    assert_eq!(
        d.post("/config/rack/rack001", rack("rack001", json!({"size": 5})))
            .status,
        400,
        "sw1 sits at 10"
    );

    let inv = d.get("/config/rack/inventory/unconfigured").json();
    let names: Vec<&str> = inv["config"]["rack"]["inventory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"node002") && names.contains(&"controller") && !names.contains(&"node001"),
        "{names:?}"
    );
    let configured = d.get("/config/rack/inventory/configured").json();
    assert_eq!(
        configured["config"]["rack"]["inventory"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(d.get("/config/rack/inventory/sideways").status, 404);
    let r = d.post("/config/rack/inventory", json!({"config": {"rack": {"inventory": [{"name": "node002", "type": "node", "height": 4}]}}}));
    assert_eq!(r.status, 201, "{}", r.text());
    let all = d.get("/config/rack/inventory").json();
    assert!(all["config"]["rack"]["inventory"].as_array().unwrap().contains(&json!({"name": "node002", "type": "node", "vendor": "Dell", "height": 4, "orientation": "front"})));

    let r = d.get("/config/rack/inventory/node001/type/node/_delete");
    assert_eq!(
        (r.status, r.message()),
        (201, "Inventory cleared".to_string())
    );
    assert_eq!(
        d.get("/config/rack/inventory/node001/type/node/_delete")
            .status,
        404
    );
    // A deleted device leaves its rack; a deleted rack frees its devices.
    assert_eq!(d.get("/config/switch/sw1/_delete").status, 204);
    assert_eq!(
        d.get("/config/rack/rack001").json()["config"]["rack"]["rack001"]["devices"],
        json!([])
    );
    assert_eq!(
        d.post(
            "/config/rack/rack001",
            rack(
                "rack001",
                json!({"devices": [{"name": "node002", "position": 3}]})
            )
        )
        .status,
        204
    );
    assert_eq!(d.get("/config/rack/rack001/_delete").status, 204);
    assert_eq!(
        d.get("/config/rack/inventory/configured").json()["config"]["rack"]["inventory"],
        json!([])
    );
    assert_eq!(
        d.get("/config/rack").json(),
        json!({"config": {"rack": {}}})
    );
    assert_eq!(
        d.post("/config/rack/inventory", rack("inventory", json!({})))
            .status,
        400
    );
}
