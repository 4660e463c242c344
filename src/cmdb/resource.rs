//! The shared shape of name-keyed resources: list, show, create/update with
//! rename, clone, delete and members.
//!
//! A resource is a [`Resource`] value: its URL/JSON key, table, fields (each with a
//! [`Kind`] that says how to validate input and render output), rename keys and
//! member query. The generic verbs below do the SQL; `api::resource` turns
//! requests into calls to them. What truly differs per
//! resource (cross-field checks, interfaces, inheritance, refusing a delete while
//! in use) is a [`Hooks`] implementation in that resource's module.

use std::net::IpAddr;

use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

use super::json::Objects;
use super::value::Name;
use super::{Error, Store};

pub struct Resource {
    /// URL segment and JSON key: `node`.
    pub kind: &'static str,
    pub table: &'static str,
    /// For messages: `Node`.
    pub label: &'static str,
    /// Keys that rename (update) or name the copy (clone); the spec's name first,
    /// then upstream's.
    pub rename: &'static [&'static str],
    pub fields: &'static [Field],
    /// Other keys a body may carry: handled by hooks, or output-only keys that are
    /// accepted so that a GET result can be posted back.
    pub extra: &'static [&'static str],
    /// Member names: `SELECT name ... WHERE ... = ?1 ORDER BY name`.
    pub member: Option<&'static str>,
    /// What keeps an object from being deleted: one column naming each user,
    /// `?1` the object's id (at most ten are named in the refusal).
    pub users: Option<&'static str>,
    pub hooks: &'static dyn Hooks,
}

/// How many users a refused delete names.
const USERS_SHOWN: usize = 10;

pub struct Field {
    /// JSON key, and the column name unless the kind says otherwise.
    pub name: &'static str,
    pub kind: Kind,
    /// Copied by clone (false for values that must stay unique).
    pub clone: bool,
    /// Another name clients use for this field (the spec's and upstream's differ).
    pub alias: Option<&'static str>,
}

pub const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        clone: true,
        alias: None,
    }
}

/// A field that is also accepted under `alias`.
pub const fn aliased(name: &'static str, alias: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        clone: true,
        alias: Some(alias),
    }
}

/// A field that clone does not copy (it must stay unique).
pub const fn unique(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        clone: false,
        alias: None,
    }
}

impl Field {
    /// This field's value in a request body, under its name or its alias.
    pub fn get<'a>(&self, obj: &'a Map<String, Value>) -> Option<&'a Value> {
        obj.get(self.name)
            .or_else(|| self.alias.and_then(|a| obj.get(a)))
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Text,
    /// Scripts: stored as sent, always answered base64-encoded.
    Script,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Choice(&'static [&'static str]),
    /// A reference by name to another table's row, stored as its id in `column`.
    Ref {
        table: &'static str,
        column: &'static str,
    },
    Ip,
    /// A MAC address, stored lower case with colons.
    Mac,
    /// A list of strings (a JSON list, or one comma-separated string), stored
    /// comma-separated.
    List,
    /// Comma-separated IP addresses.
    IpList,
    Cidr,
}

impl Field {
    pub fn column(&self) -> &'static str {
        match self.kind {
            Kind::Ref { column, .. } => column,
            _ => self.name,
        }
    }
}

/// Column values about to be written, in field order.
pub type Columns = Vec<(&'static Field, Sql)>;

/// Per-resource behaviour around the generic verbs. Every method has a default.
pub trait Hooks: Sync {
    /// Validates the complete object before it is written; may add columns
    /// (defaults on create). `id` is `None` on create.
    fn before_write(
        &self,
        _store: &Store,
        _name: &str,
        _id: Option<i64>,
        _obj: &Map<String, Value>,
        _cols: &mut Columns,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// Writes what is not a column (interfaces, addresses).
    fn after_write(
        &self,
        _store: &Store,
        _id: i64,
        _obj: &Map<String, Value>,
        _created: bool,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// Copies what is not a column from `src` to the new row `dst`.
    fn after_clone(
        &self,
        _store: &Store,
        _src: i64,
        _dst: i64,
        _obj: &Map<String, Value>,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// Refuses a delete while the object is in use.
    fn before_delete(&self, _store: &Store, _id: i64, _name: &str) -> Result<(), Error> {
        Ok(())
    }
    /// Adjusts one object as the default `render` built it from its row
    /// (adds what is not a column, drops what does not apply).
    fn decorate(
        &self,
        _store: &Store,
        _row: &Row,
        _obj: &mut Map<String, Value>,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// Renders one object (`Some(id)`) or all of them into `out`, keyed by name.
    /// The default: each row's columns, then `decorate`.
    fn render(
        &self,
        store: &Store,
        res: &Resource,
        id: Option<i64>,
        out: &mut Objects,
    ) -> Result<(), Error> {
        for row in fetch_rows(store.tx, res, id)? {
            let mut obj = row_json(res, &row);
            self.decorate(store, &row, &mut obj)?;
            out.push(&row.name, &obj);
        }
        Ok(())
    }
}

/// The generic hooks, for resources with nothing special.
pub struct Plain;
impl Hooks for Plain {}

/// Renders one object (`Some(name)`) or all of them as
/// `{"config": {"<kind>": {name: {...}}}}`.
pub fn render(store: &Store, res: &Resource, name: Option<&str>) -> Result<Vec<u8>, Error> {
    let (id, hint) = match name {
        Some(name) => (Some(require_id(store.tx, res, name)?), 4096),
        None => (None, 64 * 1024),
    };
    let mut out = Objects::new(res.kind, hint);
    res.hooks.render(store, res, id, &mut out)?;
    Ok(out.finish())
}

/// What a post did.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    Created,
    Updated,
}

/// Creates `name` from `obj`, or updates it (renaming it when `obj` carries a
/// rename key).
pub fn post(
    store: &Store,
    res: &Resource,
    name: &str,
    obj: &Map<String, Value>,
) -> Result<Posted, Error> {
    check_keys(res, obj, name)?;
    let mut cols = convert_fields(store.tx, res, obj)?;
    let rename = rename_target(res, obj)?;
    match lookup_id(store.tx, res.table, name)? {
        None => {
            if let Some((key, _)) = rename {
                return Err(Error::invalid(format!(
                    "{key} is only allowed when updating or cloning an existing {}",
                    res.kind
                )));
            }
            let name = Name::parse(res.kind, name)?;
            res.hooks
                .before_write(store, name.as_str(), None, obj, &mut cols)?;
            let id = insert(store.tx, res, &name, &cols)?;
            res.hooks.after_write(store, id, obj, true)?;
            Ok(Posted::Created)
        }
        Some(id) => {
            if obj.is_empty() {
                return Err(Error::invalid(format!(
                    "no data: the request names no field of {} '{name}' to change",
                    res.kind
                )));
            }
            if let Some((_, new_name)) = &rename {
                ensure_free_name(store.tx, res, new_name)?;
            }
            res.hooks
                .before_write(store, name, Some(id), obj, &mut cols)?;
            update(
                store.tx,
                res,
                id,
                rename.as_ref().map(|(_, n)| n.as_str()),
                &cols,
            )?;
            res.hooks.after_write(store, id, obj, false)?;
            Ok(Posted::Updated)
        }
    }
}

/// Copies `name` to the name under `obj`'s rename key, with `obj`'s values on
/// top. Returns the copy's name.
pub fn clone(
    store: &Store,
    res: &Resource,
    name: &str,
    obj: &Map<String, Value>,
) -> Result<String, Error> {
    check_keys(res, obj, name)?;
    let src = require_id(store.tx, res, name)?;
    let (_, new_name) = rename_target(res, obj)?.ok_or_else(|| {
        Error::invalid(format!(
            "{} is required: the name of the copy",
            res.rename.first().copied().unwrap_or("new name")
        ))
    })?;
    ensure_free_name(store.tx, res, &new_name)?;
    let copied: Vec<&str> = res
        .fields
        .iter()
        .filter(|f| f.clone)
        .map(|f| f.column())
        .collect();
    let col_list: String = copied.iter().map(|c| format!(", \"{c}\"")).collect();
    let sql = format!(
        "INSERT INTO \"{t}\" (name{col_list}) SELECT ?1{col_list} FROM \"{t}\" WHERE id = ?2",
        t = res.table
    );
    store
        .tx
        .execute(&sql, rusqlite::params![new_name.as_str(), src])?;
    let dst = store.tx.last_insert_rowid();
    let mut cols = convert_fields(store.tx, res, obj)?;
    res.hooks
        .before_write(store, new_name.as_str(), Some(dst), obj, &mut cols)?;
    update(store.tx, res, dst, None, &cols)?;
    res.hooks.after_clone(store, src, dst, obj)?;
    Ok(new_name.into_string())
}

/// Deletes `name`, unless something still uses it.
pub fn delete(store: &Store, res: &Resource, name: &str) -> Result<(), Error> {
    let id = require_id(store.tx, res, name)?;
    if let Some(sql) = res.users {
        let users: Vec<String> = store
            .tx
            .prepare_cached(sql)?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            let shown: Vec<&str> = users.iter().take(USERS_SHOWN).map(String::as_str).collect();
            let more = if users.len() > USERS_SHOWN {
                ", ..."
            } else {
                ""
            };
            return Err(Error::invalid(format!(
                "{} '{name}' is in use by {}{more}",
                res.kind,
                shown.join(", ")
            )));
        }
    }
    res.hooks.before_delete(store, id, name)?;
    store.tx.execute(
        &format!("DELETE FROM \"{}\" WHERE id = ?1", res.table),
        [id],
    )?;
    Ok(())
}

/// The names of `name`'s members (the nodes of a group, …).
pub fn members(store: &Store, res: &Resource, name: &str) -> Result<Vec<String>, Error> {
    let id = require_id(store.tx, res, name)?;
    let sql = res
        .member
        .ok_or_else(|| Error::not_found(format!("{} has no members", res.kind)))?;
    let mut stmt = store.tx.prepare_cached(sql)?;
    let members: Vec<String> = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(members)
}

// ---------------------------------------------------------------------------
// Building blocks, also used by resource modules.

pub fn lookup_id(tx: &Transaction, table: &str, name: &str) -> Result<Option<i64>, Error> {
    let mut stmt = tx.prepare_cached(&format!("SELECT id FROM \"{table}\" WHERE name = ?1"))?;
    Ok(stmt.query_row([name], |r| r.get(0)).optional()?)
}

pub fn require_id(tx: &Transaction, res: &Resource, name: &str) -> Result<i64, Error> {
    lookup_id(tx, res.table, name)?
        .ok_or_else(|| Error::not_found(format!("{} '{name}' not found", res.kind)))
}

fn ensure_free_name(tx: &Transaction, res: &Resource, name: &Name) -> Result<(), Error> {
    if lookup_id(tx, res.table, name.as_str())?.is_some() {
        return Err(Error::invalid(format!(
            "{} '{name}' already exists",
            res.kind
        )));
    }
    Ok(())
}

fn check_keys(res: &Resource, obj: &Map<String, Value>, url_name: &str) -> Result<(), Error> {
    for (key, value) in obj {
        if key == "name" {
            if value.as_str() != Some(url_name) {
                return Err(Error::invalid(format!(
                    "'name' must match the URL name '{url_name}'; use {} to rename",
                    res.rename.first().copied().unwrap_or("the rename key")
                )));
            }
            continue;
        }
        let known = res
            .fields
            .iter()
            .any(|f| f.name == key || f.alias == Some(key.as_str()))
            || res.rename.contains(&key.as_str())
            || res.extra.contains(&key.as_str())
            || (key.starts_with('_') && key.ends_with("_source"))
            || key == "_override";
        if !known {
            return Err(Error::invalid(format!(
                "unknown field '{key}' for {}",
                res.kind
            )));
        }
    }
    Ok(())
}

fn rename_target(
    res: &Resource,
    obj: &Map<String, Value>,
) -> Result<Option<(&'static str, Name)>, Error> {
    for key in res.rename {
        if let Some(v) = obj.get(*key) {
            let new_name = v
                .as_str()
                .ok_or_else(|| Error::invalid(format!("{key} must be a string")))?;
            return Ok(Some((key, Name::parse(res.kind, new_name)?)));
        }
    }
    Ok(None)
}

/// Gives a new object's columns their defaults: a column the body did not set,
/// or set to null, takes the default.
pub fn set_defaults(
    fields: &'static [Field],
    cols: &mut Columns,
    defaults: impl IntoIterator<Item = (&'static str, Sql)>,
) {
    for (name, value) in defaults {
        match cols.iter_mut().find(|(f, _)| f.name == name) {
            Some((_, v)) if *v == Sql::Null => *v = value,
            Some(_) => {}
            None => {
                if let Some(f) = fields.iter().find(|f| f.name == name) {
                    cols.push((f, value));
                }
            }
        }
    }
}

/// Converts the body's field values to column values.
pub fn convert_fields(
    tx: &Transaction,
    res: &Resource,
    obj: &Map<String, Value>,
) -> Result<Columns, Error> {
    let mut cols = Vec::new();
    for f in res.fields {
        if let Some(v) = f.get(obj) {
            cols.push((f, to_sql(tx, f, v)?));
        }
    }
    Ok(cols)
}

/// One JSON value to a column value; `null` and `""` clear.
pub fn to_sql(tx: &Transaction, f: &Field, v: &Value) -> Result<Sql, Error> {
    let bad = |what: &str| Error::invalid(format!("invalid {} '{}': {what}", f.name, display(v)));
    if v.is_null() || v.as_str() == Some("") {
        return Ok(Sql::Null);
    }
    if let (Kind::List, Value::Array(items)) = (f.kind, v) {
        let parts: Vec<&str> = items
            .iter()
            .map(|i| i.as_str().ok_or_else(|| bad("expected a list of strings")))
            .collect::<Result<_, _>>()?;
        return Ok(Sql::Text(parts.join(", ")));
    }
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(bad("expected a string, number or boolean")),
    };
    Ok(match f.kind {
        // A list sent as one (possibly base64-encoded) comma-separated string.
        Kind::List => {
            let decoded = crate::util::decode_text(&text);
            let parts: Vec<&str> = decoded
                .split([',', '\n'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            Sql::Text(parts.join(", "))
        }
        Kind::Text | Kind::Script => {
            if matches!(v, Value::Bool(_)) {
                return Err(bad("expected a string"));
            }
            Sql::Text(text)
        }
        Kind::Bool => {
            Sql::Integer(parse_bool(v).ok_or_else(|| bad("expected true or false"))? as i64)
        }
        Kind::Int { min, max } => {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| bad("expected a whole number"))?;
            if n < min || n > max {
                return Err(bad(&format!("must be from {min} to {max}")));
            }
            Sql::Integer(n)
        }
        Kind::Choice(options) => {
            if !options.contains(&text.as_str()) {
                return Err(bad(&format!("expected one of {}", options.join(", "))));
            }
            Sql::Text(text)
        }
        Kind::Ref { table, .. } => {
            let id = lookup_id(tx, table, &text)?
                .ok_or_else(|| Error::invalid(format!("{} '{text}' does not exist", f.name)))?;
            Sql::Integer(id)
        }
        Kind::Ip => Sql::Text(parse_ip(f.name, &text)?.to_string()),
        Kind::Mac => Sql::Text(super::value::Mac::parse(&text)?.into_string()),
        Kind::IpList => {
            let ips: Vec<String> = text
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| parse_ip(f.name, s).map(|ip| ip.to_string()))
                .collect::<Result<_, _>>()?;
            Sql::Text(ips.join(","))
        }
        Kind::Cidr => {
            let net: ipnet::IpNet = text
                .trim()
                .parse()
                .map_err(|_| bad("expected a network in CIDR notation, like 10.141.0.0/16"))?;
            Sql::Text(net.trunc().to_string())
        }
    })
}

pub fn parse_ip(what: &str, s: &str) -> Result<IpAddr, Error> {
    s.trim()
        .parse()
        .map_err(|_| Error::invalid(format!("invalid {what} '{s}': not an IP address")))
}

pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Some(true),
            "false" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn insert(tx: &Transaction, res: &Resource, name: &Name, cols: &Columns) -> Result<i64, Error> {
    let names: String = cols
        .iter()
        .map(|(f, _)| format!(", \"{}\"", f.column()))
        .collect();
    let marks: String = (0..cols.len()).map(|i| format!(", ?{}", i + 2)).collect();
    let sql = format!(
        "INSERT INTO \"{}\" (name{names}) VALUES (?1{marks})",
        res.table
    );
    let values = std::iter::once(Sql::Text(name.as_str().to_string()))
        .chain(cols.iter().map(|(_, v)| v.clone()));
    tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(tx.last_insert_rowid())
}

pub fn update(
    tx: &Transaction,
    res: &Resource,
    id: i64,
    new_name: Option<&str>,
    cols: &Columns,
) -> Result<(), Error> {
    let mut sets: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (f, _))| format!("\"{}\" = ?{}", f.column(), i + 2))
        .collect();
    let mut values: Vec<Sql> = vec![Sql::Integer(id)];
    values.extend(cols.iter().map(|(_, v)| v.clone()));
    if let Some(n) = new_name {
        sets.push(format!("name = ?{}", values.len() + 1));
        values.push(Sql::Text(n.to_string()));
    }
    if sets.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE \"{}\" SET {} WHERE id = ?1",
        res.table,
        sets.join(", ")
    );
    tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(())
}

/// A row read for rendering: references already resolved to names.
pub struct Row {
    pub id: i64,
    pub name: String,
    /// One value per `Resource::fields` entry, in order.
    pub values: Vec<Sql>,
}

/// Reads one or all rows in one query, joining referenced names.
pub fn fetch_rows(tx: &Transaction, res: &Resource, id: Option<i64>) -> Result<Vec<Row>, Error> {
    fetch_select(tx, res, id.map(Select::One).unwrap_or(Select::All))
}

/// Which rows to read.
#[derive(Clone, Copy)]
pub enum Select<'a> {
    All,
    One(i64),
    /// The next `limit` rows by name after `after` (keyset paging).
    After(&'a str, i64),
}

pub fn fetch_select(
    tx: &Transaction,
    res: &Resource,
    select_rows: Select,
) -> Result<Vec<Row>, Error> {
    let mut select = String::from("SELECT t.id, t.name");
    let mut joins = String::new();
    for (i, f) in res.fields.iter().enumerate() {
        match f.kind {
            Kind::Ref { table, column } => {
                select.push_str(&format!(", j{i}.name"));
                joins.push_str(&format!(
                    " LEFT JOIN \"{table}\" j{i} ON j{i}.id = t.\"{column}\""
                ));
            }
            _ => select.push_str(&format!(", t.\"{}\"", f.name)),
        }
    }
    let tail = match select_rows {
        Select::All => " ORDER BY t.name",
        Select::One(_) => " WHERE t.id = ?1",
        Select::After(..) => " WHERE t.name > ?1 ORDER BY t.name LIMIT ?2",
    };
    let sql = format!("{select} FROM \"{}\" t{joins}{tail}", res.table);
    let mut stmt = tx.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row| -> rusqlite::Result<Row> {
        let mut values = Vec::with_capacity(res.fields.len());
        for i in 0..res.fields.len() {
            values.push(r.get::<_, Sql>(i + 2)?);
        }
        Ok(Row {
            id: r.get(0)?,
            name: r.get(1)?,
            values,
        })
    };
    let rows = match select_rows {
        Select::All => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
        Select::One(id) => stmt.query_map([id], map)?.collect::<Result<Vec<_>, _>>()?,
        Select::After(after, limit) => stmt
            .query_map(rusqlite::params![after, limit], map)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// Renders a row's fields as JSON, `name` included.
pub fn row_json(res: &Resource, row: &Row) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(row.name.clone()));
    for (f, v) in res.fields.iter().zip(&row.values) {
        out.insert(f.name.into(), to_json(f.kind, v));
    }
    out
}

pub fn to_json(kind: Kind, v: &Sql) -> Value {
    match (kind, v) {
        (_, Sql::Null) => Value::Null,
        (Kind::Bool, Sql::Integer(n)) => Value::Bool(*n != 0),
        (Kind::Script, Sql::Text(s)) => Value::String(crate::util::as_base64(s)),
        (Kind::List, Sql::Text(s)) => Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.into()))
                .collect(),
        ),
        (_, Sql::Integer(n)) => json!(n),
        (_, Sql::Real(x)) => json!(x),
        (_, Sql::Text(s)) => Value::String(s.clone()),
        (_, Sql::Blob(_)) => Value::Null,
    }
}
