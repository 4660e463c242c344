//! Raw tables, for HA peers comparing their databases: a hash per table and a
//! table's rows. Secret material (BMC passwords, secret contents) is part of the
//! hash but never part of the rows answered.

use rusqlite::types::Value as Sql;
use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};

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
fn rows(ctx: &Ctx, table: &str) -> Result<(Vec<String>, Vec<Vec<Sql>>), ApiError> {
    let mut stmt = ctx
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

/// `GET /table/hashes`
pub fn hashes(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut out = Map::new();
    for (table, _) in TABLES {
        let (names, rows) = rows(ctx, table)?;
        out.insert(table.to_string(), Value::String(digest(&names, &rows)));
    }
    Reply::ok(json!({ "table": { "hashes": out } }))
}

/// `GET /table/data/{name}`
pub fn data(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let (_, withheld) = TABLES
        .iter()
        .find(|(t, _)| *t == name)
        .ok_or_else(|| ApiError::not_found(format!("no table '{name}'")))?;
    let (names, rows) = rows(ctx, &name)?;
    let list: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            for (col, v) in names.iter().zip(row) {
                if !withheld.contains(&col.as_str()) {
                    obj.insert(
                        col.clone(),
                        crate::cmdb::resource::to_json(crate::cmdb::resource::Kind::Text, v),
                    );
                }
            }
            Value::Object(obj)
        })
        .collect();
    Reply::ok(json!({ "table": { "data": { name: list } } }))
}
