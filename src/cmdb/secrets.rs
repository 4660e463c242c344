//! Node and group secrets: small files (licenses, keys) placed into a node's
//! image at install time, sealed at rest (`src/secrets.rs`) and answered only
//! with a token. A node's view includes its group's secrets; a node's
//! provisioning token may read its own.
//!
//! Items are `{"secretname", "content", "path"}`; upstream's `name` is accepted
//! for `secretname` and answered alongside it, since the `luna` CLI uses it.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use super::group::GROUP;
use super::node::NODE;
use super::resource::{require_id, Resource};
use super::{Error, Store};

pub struct Owner {
    pub kind: &'static str,
    pub res: &'static Resource,
    pub table: &'static str,
    pub column: &'static str,
}

pub const NODE_OWNER: Owner = Owner {
    kind: "node",
    res: &NODE,
    table: "nodesecrets",
    column: "nodeid",
};
pub const GROUP_OWNER: Owner = Owner {
    kind: "group",
    res: &GROUP,
    table: "groupsecrets",
    column: "groupid",
};

pub const ITEM_KEYS: &[&str] = &["secretname", "name", "content", "path", "newsecretname"];

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" ._-".contains(&b))
}

pub fn check_name(name: &str) -> Result<(), Error> {
    if !valid_name(name) {
        return Err(Error::invalid(format!(
            "invalid secret name '{name}': letters, digits, space, '.', '_', '-'"
        )));
    }
    Ok(())
}

pub fn item_name(item: &Map<String, Value>) -> Option<&str> {
    item.get("secretname")
        .or_else(|| item.get("name"))
        .and_then(Value::as_str)
}

/// Every node's and group's secrets, decrypted: for export.
pub fn export(store: &Store) -> Result<Value, Error> {
    Ok(
        json!({ "node": load(store, &NODE_OWNER, None)?, "group": load(store, &GROUP_OWNER, None)? }),
    )
}

/// Restores exported secrets (`{"node": {name: [...]}, "group": {...}}`).
pub fn import(store: &Store, doc: &Value) -> Result<(), Error> {
    for owner in [&NODE_OWNER, &GROUP_OWNER] {
        for (name, list) in doc
            .get(owner.kind)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let id = require_id(store.tx, owner.res, name)?;
            for item in list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                let secret = item_name(item)
                    .ok_or_else(|| Error::invalid(format!("a secret of {name} has no name")))?;
                upsert(store, owner, id, secret, item)?;
            }
        }
    }
    Ok(())
}

/// Secrets of one owner (or all owners), by owner name, decrypted.
pub fn load(store: &Store, owner: &Owner, id: Option<i64>) -> Result<Map<String, Value>, Error> {
    let filter = if id.is_some() {
        format!("WHERE s.{} = ?1", owner.column)
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT o.name, s.name, s.content, s.path FROM {} s JOIN \"{}\" o ON o.id = s.{} {filter} ORDER BY o.name, s.name",
        owner.table, owner.res.table, owner.column
    );
    let mut stmt = store.tx.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row| -> rusqlite::Result<(String, String, String, Option<String>)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let rows = match id {
        Some(id) => stmt.query_map([id], map)?.collect::<Result<Vec<_>, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
    };
    let mut out = Map::new();
    for (owner_name, name, sealed, path) in rows {
        let content = store
            .sealer
            .open(&sealed)
            .map_err(|e| Error::Internal(format!("secret {name}: {e}")))?;
        let entry = json!({ "secretname": name, "name": name, "content": content, "path": path });
        if let Some(list) = out
            .entry(owner_name)
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
        {
            list.push(entry);
        }
    }
    Ok(out)
}

/// Creates or updates one secret; true when created.
/// What [`upsert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
    /// Everything given was already so: nothing written.
    Unchanged,
}

pub fn upsert(
    store: &Store,
    owner: &Owner,
    id: i64,
    name: &str,
    item: &Map<String, Value>,
) -> Result<Upserted, Error> {
    check_name(name)?;
    let existing: Option<(i64, String, Option<String>)> = store
        .tx
        .query_row(
            &format!(
                "SELECT id, content, path FROM {} WHERE {} = ?1 AND name = ?2",
                owner.table, owner.column
            ),
            params![id, name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let content = match item.get("content") {
        Some(Value::String(c)) => Some(c.as_str()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(Error::invalid(format!(
                "content of secret '{name}' must be a string"
            )))
        }
    };
    let path = match item.get("path") {
        Some(Value::String(p)) if !p.starts_with('/') => {
            return Err(Error::invalid(format!(
                "path of secret '{name}' must be absolute"
            )));
        }
        Some(Value::String(p)) => Some(p.as_str()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(Error::invalid(format!(
                "path of secret '{name}' must be a string"
            )))
        }
    };
    if let Some((_, stored, stored_path)) = &existing {
        let same_content = match content {
            None => true,
            Some(c) => store.sealer.open(stored).map_err(Error::Internal)? == c,
        };
        if same_content && path.is_none_or(|p| stored_path.as_deref() == Some(p)) {
            return Ok(Upserted::Unchanged);
        }
    }
    let sealed = content
        .map(|c| store.sealer.seal(c))
        .transpose()
        .map_err(Error::Internal)?;
    match existing.map(|(row, _, _)| row) {
        Some(row) => {
            if let Some(sealed) = sealed {
                store.tx.execute(
                    &format!("UPDATE {} SET content = ?2 WHERE id = ?1", owner.table),
                    params![row, sealed],
                )?;
            }
            if let Some(path) = path {
                store.tx.execute(
                    &format!("UPDATE {} SET path = ?2 WHERE id = ?1", owner.table),
                    params![row, path],
                )?;
            }
            Ok(Upserted::Updated)
        }
        None => {
            let sealed =
                sealed.ok_or_else(|| Error::invalid(format!("secret '{name}' needs content")))?;
            store.tx.execute(
                &format!(
                    "INSERT INTO {} ({}, name, content, path) VALUES (?1, ?2, ?3, ?4)",
                    owner.table, owner.column
                ),
                params![id, name, sealed, path],
            )?;
            Ok(Upserted::Created)
        }
    }
}

pub fn require_secret(
    store: &Store,
    owner: &Owner,
    id: i64,
    owner_name: &str,
    secret: &str,
) -> Result<i64, Error> {
    store
        .tx
        .query_row(
            &format!(
                "SELECT id FROM {} WHERE {} = ?1 AND name = ?2",
                owner.table, owner.column
            ),
            params![id, secret],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| {
            Error::not_found(format!(
                "{} '{owner_name}' has no secret '{secret}'",
                owner.kind
            ))
        })
}

/// The group of node `node` (whose secrets the node also sees).
pub fn group_of(store: &Store, node: i64) -> Result<i64, Error> {
    Ok(store
        .tx
        .query_row("SELECT groupid FROM node WHERE id = ?1", [node], |r| {
            r.get(0)
        })?)
}

/// Copies secret `secret` of `owner_name` (id `id`) to `new_name`, then applies
/// `rest` (content, path) to the copy.
pub fn copy_secret(
    store: &Store,
    owner: &Owner,
    id: i64,
    owner_name: &str,
    secret: &str,
    new_name: &str,
    rest: &Map<String, Value>,
) -> Result<(), Error> {
    check_name(new_name)?;
    let src = require_secret(store, owner, id, owner_name, secret)?;
    let taken: bool = store.tx.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ?1 AND name = ?2)",
            owner.table, owner.column
        ),
        params![id, new_name],
        |r| r.get(0),
    )?;
    if taken {
        return Err(Error::invalid(format!(
            "secret '{new_name}' already exists"
        )));
    }
    store.tx.execute(
        &format!(
            "INSERT INTO {t} ({c}, name, content, path) SELECT {c}, ?2, content, path FROM {t} WHERE id = ?1",
            t = owner.table,
            c = owner.column
        ),
        params![src, new_name],
    )?;
    upsert(store, owner, id, new_name, rest)?;
    Ok(())
}

/// Deletes secret `secret` of `owner_name` (id `id`).
pub fn delete_secret(
    store: &Store,
    owner: &Owner,
    id: i64,
    owner_name: &str,
    secret: &str,
) -> Result<(), Error> {
    let row = require_secret(store, owner, id, owner_name, secret)?;
    store
        .tx
        .execute(&format!("DELETE FROM {} WHERE id = ?1", owner.table), [row])?;
    Ok(())
}
