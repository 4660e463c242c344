//! Raw tables, for HA peers comparing their databases: a hash per table and a
//! table's rows. Secret material (BMC passwords, secret contents) is part of the
//! hash but never part of the rows answered.

use rusqlite::types::Value as Sql;
use serde_json::{Map, Value};

use super::resource::{to_json, Kind};
use super::{Error, Store};

/// The tables answered, and the columns withheld from each.
const TABLES: &[(&str, &[&str])] = &[
    ("cluster", &[]),
    ("controller", &[]),
    ("network", &[]),
    ("osimage", &[]),
    ("osimagetag", &[]),
    ("bmcsetup", &["password"]),
    ("switch", &[]),
    ("otherdevices", &[]),
    ("cloud", &[]),
    ("group", &[]),
    ("groupinterface", &[]),
    ("node", &[]),
    ("nodeinterface", &[]),
    ("ipaddress", &[]),
    ("dns", &[]),
    ("nodesecrets", &["content"]),
    ("groupsecrets", &["content"]),
];

/// Every row of `table`, in id order, with column names.
fn rows(store: &Store, table: &str) -> Result<(Vec<String>, Vec<Vec<Sql>>), Error> {
    let mut stmt = store
        .tx
        .prepare_cached(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))?;
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let width = names.len();
    let rows = stmt
        .query_map([], |r| {
            (0..width)
                .map(|i| r.get::<_, Sql>(i))
                .collect::<rusqlite::Result<Vec<Sql>>>()
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((names, rows))
}

/// A digest of a table's content: equal exactly when the rows are equal.
fn digest(names: &[String], rows: &[Vec<Sql>]) -> String {
    let mut h = hmac_sha256::Hash::new();
    for name in names {
        h.update(name.as_bytes());
        h.update([0]);
    }
    for row in rows {
        for v in row {
            // A type tag and a length keep different values from colliding.
            match v {
                Sql::Null => h.update([0]),
                Sql::Integer(n) => {
                    h.update([1]);
                    h.update(n.to_le_bytes());
                }
                Sql::Real(x) => {
                    h.update([2]);
                    h.update(x.to_le_bytes());
                }
                Sql::Text(s) => {
                    h.update([3]);
                    h.update((s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
                Sql::Blob(b) => {
                    h.update([4]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
            }
        }
        h.update([0xff]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest per table: peers compare these to find tables that differ.
pub fn hashes(store: &Store) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for (table, _) in TABLES {
        let (names, rows) = rows(store, table)?;
        out.insert(table.to_string(), Value::String(digest(&names, &rows)));
    }
    Ok(out)
}

/// A table's rows as objects, secret columns withheld.
pub fn data(store: &Store, name: &str) -> Result<Vec<Value>, Error> {
    let (_, withheld) = TABLES
        .iter()
        .find(|(t, _)| *t == name)
        .ok_or_else(|| Error::not_found(format!("no table '{name}'")))?;
    let (names, rows) = rows(store, name)?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            for (col, v) in names.iter().zip(row) {
                if !withheld.contains(&col.as_str()) {
                    obj.insert(col.clone(), to_json(Kind::Text, v));
                }
            }
            Value::Object(obj)
        })
        .collect())
}
