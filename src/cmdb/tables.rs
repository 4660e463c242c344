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

/// The tables a shadow can repair from the master's rows: those answered
/// whole (a table with withheld secret columns is kept in step by the
/// journal only).
pub fn repairable() -> impl Iterator<Item = &'static str> {
    TABLES
        .iter()
        .filter(|(_, withheld)| withheld.is_empty())
        .map(|(t, _)| *t)
}

/// Replaces every row of `table` with `rows` (objects as `data` answers
/// them). The caller runs this with foreign keys off and checks them before
/// committing (several tables change together).
pub fn replace(store: &Store, table: &str, rows: &[Value]) -> Result<(), Error> {
    if !repairable().any(|t| t == table) {
        return Err(Error::invalid(format!(
            "table '{table}' cannot be replaced"
        )));
    }
    let columns: Vec<String> = {
        let stmt = store
            .tx
            .prepare_cached(&format!("SELECT * FROM \"{table}\" LIMIT 0"))?;
        stmt.column_names().iter().map(|n| n.to_string()).collect()
    };
    store.tx.execute(&format!("DELETE FROM \"{table}\""), [])?;
    let cols: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({})",
        cols.join(", "),
        marks.join(", ")
    );
    let mut stmt = store.tx.prepare(&sql)?;
    for row in rows {
        let obj = row
            .as_object()
            .ok_or_else(|| Error::invalid(format!("a row of {table} is not an object")))?;
        let values: Vec<Sql> = columns
            .iter()
            .map(|c| match obj.get(c) {
                None | Some(Value::Null) => Sql::Null,
                Some(Value::Bool(b)) => Sql::Integer(i64::from(*b)),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(i) => Sql::Integer(i),
                    None => Sql::Real(n.as_f64().unwrap_or(0.0)),
                },
                Some(Value::String(s)) => Sql::Text(s.clone()),
                Some(other) => Sql::Text(other.to_string()),
            })
            .collect();
        stmt.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
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
