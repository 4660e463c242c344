//! Raw tables, for HA peers comparing their databases: a hash per table and a
//! table's rows (both behind a token, like every other answer that can carry a
//! secret).
//!
//! Sealed columns (BMC passwords, secret contents) are sealed on each
//! controller with its own key and a random nonce, so their stored bytes never
//! match between controllers: the hash covers what they open to, `data`
//! answers them opened, and `replace` seals them again with this controller's
//! key. Every table can so be compared and repaired.

use rusqlite::types::Value as Sql;
use serde_json::{Map, Value};

use super::resource::{to_json, Kind};
use super::{Error, Store};

/// The tables answered, and the sealed columns of each.
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

/// What to do with a sealed value this controller cannot open (a replaced
/// key, a damaged row).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    /// Answering rows: refuse, nothing sensible can be sent.
    Refuse,
    /// Hashing: hash a value no readable one can equal, so the table differs
    /// from the master's and a shadow repairs it.
    Differ,
}

/// Every row of `table`, in id order, with column names; sealed columns
/// opened.
fn rows(
    store: &Store,
    table: &str,
    unreadable: Unreadable,
) -> Result<(Vec<String>, Vec<Vec<Sql>>), Error> {
    let sealed = sealed_columns(table)?;
    let mut stmt = store
        .tx
        .prepare_cached(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))?;
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let open: Vec<bool> = names.iter().map(|n| sealed.contains(&n.as_str())).collect();
    let width = names.len();
    let mut rows = stmt
        .query_map([], |r| {
            (0..width)
                .map(|i| r.get::<_, Sql>(i))
                .collect::<rusqlite::Result<Vec<Sql>>>()
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for row in &mut rows {
        for (v, open) in row.iter_mut().zip(&open) {
            if let (true, Sql::Text(stored)) = (open, &v) {
                *v = match (store.sealer.open(stored), unreadable) {
                    (Ok(plain), _) => Sql::Text(plain),
                    (Err(_), Unreadable::Differ) => Sql::Blob(stored.as_bytes().to_vec()),
                    (Err(e), Unreadable::Refuse) => {
                        return Err(Error::Internal(format!("{table}: {e}")))
                    }
                };
            }
        }
    }
    Ok((names, rows))
}

fn sealed_columns(table: &str) -> Result<&'static [&'static str], Error> {
    TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, sealed)| *sealed)
        .ok_or_else(|| Error::not_found(format!("no table '{table}'")))
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
        let (names, rows) = rows(store, table, Unreadable::Differ)?;
        out.insert(table.to_string(), Value::String(digest(&names, &rows)));
    }
    Ok(out)
}

/// The tables a shadow compares with the master's and repairs.
pub fn repairable() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|(t, _)| *t)
}

/// Replaces every row of `table` with `rows` (objects as `data` answers
/// them, sealed columns in the clear: sealed here). The caller runs this with
/// foreign keys off and checks them before committing (several tables change
/// together).
pub fn replace(store: &Store, table: &str, rows: &[Value]) -> Result<(), Error> {
    let sealed = sealed_columns(table)
        .map_err(|_| Error::invalid(format!("table '{table}' cannot be replaced")))?;
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
    let mut failed = None;
    for row in rows {
        let obj = row
            .as_object()
            .ok_or_else(|| Error::invalid(format!("a row of {table} is not an object")))?;
        // A peer that withholds them (an older luna2d) would blank them here.
        if let Some(col) = sealed.iter().find(|c| !obj.contains_key(**c)) {
            return Err(Error::invalid(format!(
                "the rows of {table} lack '{col}' (withheld by the peer?): not replaced"
            )));
        }
        let values: Vec<Sql> = columns
            .iter()
            .map(|c| match obj.get(c) {
                None | Some(Value::Null) => Sql::Null,
                Some(Value::Bool(b)) => Sql::Integer(i64::from(*b)),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(i) => Sql::Integer(i),
                    None => Sql::Real(n.as_f64().unwrap_or(0.0)),
                },
                Some(Value::String(s)) if sealed.contains(&c.as_str()) => {
                    match store.sealer.seal(s) {
                        Ok(stored) => Sql::Text(stored),
                        Err(e) => {
                            failed = Some(e);
                            Sql::Null
                        }
                    }
                }
                Some(Value::String(s)) => Sql::Text(s.clone()),
                Some(other) => Sql::Text(other.to_string()),
            })
            .collect();
        if let Some(e) = failed.take() {
            return Err(Error::Internal(format!("{table}: {e}")));
        }
        stmt.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// A table's rows as objects, sealed columns opened.
pub fn data(store: &Store, name: &str) -> Result<Vec<Value>, Error> {
    let (names, rows) = rows(store, name, Unreadable::Refuse)?;
    Ok(rows
        .iter()
        .map(|row| {
            let obj: Map<String, Value> = names
                .iter()
                .zip(row)
                .map(|(col, v)| (col.clone(), to_json(Kind::Text, v)))
                .collect();
            Value::Object(obj)
        })
        .collect())
}
