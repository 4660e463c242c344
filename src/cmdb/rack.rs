//! Racks and the inventory of rack-mountable devices (nodes, switches, other
//! devices, controllers).
//!
//! A device's inventory entry says how many units it takes (`height`), which
//! way it faces, and where it sits: a rack and the lowest unit it occupies
//! (`position`). Placements are checked against the rack's size, and no two
//! devices may share a unit.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

use super::json::Objects;
use super::resource::{aliased, fetch_rows, field, row_json, Hooks, Kind, Resource};
use super::{Error, Store};

pub static RACK: Resource = Resource {
    kind: "rack",
    table: "rack",
    label: "Rack",
    rename: &["newrackname"],
    fields: &[
        field("size", Kind::Int { min: 1, max: 100 }),
        field("order", Kind::Choice(&["ascending", "descending"])),
        field("room", Kind::Text),
        field("site", Kind::Text),
        aliased("comment", "comments", Kind::Text),
    ],
    extra: &["devices"],
    member: None,
    users: None,
    hooks: &RackHooks,
};

/// `(API type, table)`
const DEVICE_TYPES: &[(&str, &str)] = &[
    ("node", "node"),
    ("switch", "switch"),
    ("otherdev", "otherdevices"),
    ("controller", "controller"),
];
const ORIENTATIONS: &[&str] = &["front", "back"];

pub fn table_of(kind: &str) -> Result<&'static str, Error> {
    DEVICE_TYPES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown device type '{kind}': one of node, switch, otherdev, controller"
            ))
        })
}

/// Finds a device by name, by its type when given, else in any table.
pub fn device(
    tx: &Transaction,
    name: &str,
    kind: Option<&str>,
) -> Result<(&'static str, i64), Error> {
    let tables: Vec<&'static str> = match kind {
        Some(k) => vec![table_of(k)?],
        None => DEVICE_TYPES.iter().map(|(_, t)| *t).collect(),
    };
    for table in tables {
        let id: Option<i64> = tx
            .query_row(
                &format!("SELECT id FROM \"{table}\" WHERE name = ?1"),
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = id {
            return Ok((table, id));
        }
    }
    Err(Error::invalid(format!("device '{name}' does not exist")))
}

fn int(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("{key} must be a whole number"))),
    }
}

/// Creates or updates a device's inventory entry; returns true when created.
pub fn upsert_entry(tx: &Transaction, obj: &Map<String, Value>) -> Result<bool, Error> {
    for k in obj.keys() {
        if ![
            "name",
            "type",
            "vendor",
            "height",
            "orientation",
            "position",
            "rack",
        ]
        .contains(&k.as_str())
        {
            return Err(Error::invalid(format!(
                "unknown field '{k}' in a rack device"
            )));
        }
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("each device needs a name"))?;
    let (table, id) = device(tx, name, obj.get("type").and_then(Value::as_str))?;
    let height = int(obj, "height")?;
    let min_height = if table == "otherdevices" { 0 } else { 1 };
    if let Some(h) = height {
        if h < min_height || h > 100 {
            return Err(Error::invalid(format!(
                "height {h} of {name} must be from {min_height} to 100"
            )));
        }
    }
    let orientation = obj.get("orientation").and_then(Value::as_str);
    if let Some(o) = orientation {
        if !ORIENTATIONS.contains(&o) {
            return Err(Error::invalid(format!(
                "orientation '{o}' of {name} must be front or back"
            )));
        }
    }
    let created = tx.execute(
        "INSERT OR IGNORE INTO rackinventory (tableref, tablerefid) VALUES (?1, ?2)",
        params![table, id],
    )? == 1;
    if let Some(h) = height {
        tx.execute(
            "UPDATE rackinventory SET height = ?3 WHERE tableref = ?1 AND tablerefid = ?2",
            params![table, id, h],
        )?;
    }
    if let Some(o) = orientation {
        tx.execute(
            "UPDATE rackinventory SET orientation = ?3 WHERE tableref = ?1 AND tablerefid = ?2",
            params![table, id, o],
        )?;
    }
    // The vendor is the device's own (what `inventory` answers): every device
    // table has the column; `table` is one of DEVICE_TYPES.
    match obj.get("vendor") {
        None => {}
        Some(Value::Null) => {
            tx.execute(
                &format!("UPDATE \"{table}\" SET vendor = NULL WHERE id = ?1"),
                [id],
            )?;
        }
        Some(Value::String(v)) => {
            tx.execute(
                &format!("UPDATE \"{table}\" SET vendor = ?2 WHERE id = ?1"),
                params![id, v],
            )?;
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "vendor of {name} must be a string, not {other}"
            )))
        }
    }
    Ok(created)
}

/// Places a device in rack `rack` at `position`, checking size and overlap.
pub fn place(tx: &Transaction, rack: i64, obj: &Map<String, Value>) -> Result<(), Error> {
    upsert_entry(tx, obj)?;
    let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
    let (table, id) = device(tx, name, obj.get("type").and_then(Value::as_str))?;
    let position = int(obj, "position")?
        .ok_or_else(|| Error::invalid(format!("device {name} needs a position")))?;
    let (rack_name, size): (String, i64) =
        tx.query_row("SELECT name, size FROM rack WHERE id = ?1", [rack], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let height: i64 = tx.query_row(
        "SELECT height FROM rackinventory WHERE tableref = ?1 AND tablerefid = ?2",
        params![table, id],
        |r| r.get(0),
    )?;
    let top = position + height.max(1) - 1;
    if position < 1 || top > size {
        return Err(Error::invalid(format!(
            "{name} at position {position} with height {height} does not fit rack {rack_name} of {size} units"
        )));
    }
    let clash: Option<(String, String)> = tx
        .query_row(
            "SELECT tableref, tablerefid FROM rackinventory
             WHERE rackid = ?1 AND position IS NOT NULL AND NOT (tableref = ?2 AND tablerefid = ?3)
               AND position <= ?5 AND position + MAX(height, 1) - 1 >= ?4 LIMIT 1",
            params![rack, table, id, position, top],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.to_string())),
        )
        .optional()?;
    if let Some((other_table, other_id)) = clash {
        let other: String = tx.query_row(
            &format!("SELECT name FROM \"{other_table}\" WHERE id = ?1"),
            [other_id],
            |r| r.get(0),
        )?;
        return Err(Error::invalid(format!(
            "{name} at position {position} overlaps {other} in rack {rack_name}"
        )));
    }
    tx.execute(
        "UPDATE rackinventory SET rackid = ?3, position = ?4 WHERE tableref = ?1 AND tablerefid = ?2",
        params![table, id, rack, position],
    )?;
    Ok(())
}

/// Inventory entries, one per device, with the device's vendor.
pub fn inventory(
    tx: &Transaction,
    rack: Option<i64>,
    subset: Option<bool>,
) -> Result<Vec<(Option<i64>, Value)>, Error> {
    let mut out = Vec::new();
    for (kind, table) in DEVICE_TYPES {
        let sql = format!(
            "SELECT d.name, d.vendor, COALESCE(i.height, 1), COALESCE(i.orientation, 'front'), i.position, i.rackid, r.name
             FROM \"{table}\" d LEFT JOIN rackinventory i ON i.tableref = '{table}' AND i.tablerefid = d.id
             LEFT JOIN rack r ON r.id = i.rackid ORDER BY d.name"
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        for row in rows {
            let (name, vendor, height, orientation, position, rack_id, rack_name) = row?;
            if rack.is_some() && rack_id != rack {
                continue;
            }
            if subset.is_some_and(|configured| configured != rack_id.is_some()) {
                continue;
            }
            let mut entry = json!({ "name": name, "type": kind, "vendor": vendor, "height": height, "orientation": orientation });
            if rack_id.is_some() {
                entry["position"] = json!(position);
                entry["rack"] = json!(rack_name);
            }
            out.push((position, entry));
        }
    }
    Ok(out)
}

struct RackHooks;

impl Hooks for RackHooks {
    fn after_write(
        &self,
        store: &Store,
        id: i64,
        obj: &Map<String, Value>,
        _created: bool,
    ) -> Result<(), Error> {
        let size: i64 = store
            .tx
            .query_row("SELECT size FROM rack WHERE id = ?1", [id], |r| r.get(0))?;
        // A smaller rack must still hold what is in it.
        let over: Option<i64> = store.tx.query_row(
            "SELECT MAX(position + MAX(height, 1) - 1) FROM rackinventory WHERE rackid = ?1",
            [id],
            |r| r.get(0),
        )?;
        if over.is_some_and(|top| top > size) {
            return Err(Error::invalid(format!(
                "size {size} is too small for the devices in the rack"
            )));
        }
        for device in obj
            .get("devices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let d = device
                .as_object()
                .ok_or_else(|| Error::invalid("each rack device must be an object"))?;
            place(store.tx, id, d)?;
        }
        if obj.get("devices").is_some_and(|d| !d.is_array()) {
            return Err(Error::invalid("devices must be a list"));
        }
        Ok(())
    }

    fn before_delete(&self, store: &Store, id: i64, _name: &str) -> Result<(), Error> {
        store.tx.execute(
            "UPDATE rackinventory SET rackid = NULL, position = NULL WHERE rackid = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Each rack with the devices placed in it, bottom up. The inventory is
    /// read once for all racks (it walks every device table).
    fn render(
        &self,
        store: &Store,
        res: &Resource,
        id: Option<i64>,
        out: &mut Objects,
    ) -> Result<(), Error> {
        let mut placed: HashMap<String, Vec<(Option<i64>, Value)>> = HashMap::new();
        for (position, mut device) in inventory(store.tx, id, Some(true))? {
            let Some(obj) = device.as_object_mut() else {
                continue;
            };
            let rack = obj.remove("rack");
            if let Some(Value::String(rack)) = rack {
                placed.entry(rack).or_default().push((position, device));
            }
        }
        for row in fetch_rows(store.tx, res, id)? {
            let mut obj = row_json(res, &row);
            let mut devices = placed.remove(&row.name).unwrap_or_default();
            devices.sort_by_key(|(p, _)| *p);
            obj.insert(
                "devices".into(),
                Value::Array(devices.into_iter().map(|(_, d)| d).collect()),
            );
            out.push(&row.name, &obj);
        }
        Ok(())
    }
}

/// Takes device `name` of type `kind` out of its rack (its inventory entry stays).
pub fn unplace(store: &Store, name: &str, kind: &str) -> Result<(), Error> {
    let table = table_of(kind).map_err(|e| Error::not_found(e.to_string()))?;
    let (_, id) = device(store.tx, name, Some(kind))
        .map_err(|_| Error::not_found(format!("{kind} '{name}' not found")))?;
    let changed = store.tx.execute(
        "UPDATE rackinventory SET rackid = NULL, position = NULL WHERE tableref = ?1 AND tablerefid = ?2 AND rackid IS NOT NULL",
        params![table, id],
    )?;
    if changed == 0 {
        return Err(Error::not_found(format!(
            "{kind} '{name}' is not in a rack"
        )));
    }
    Ok(())
}
