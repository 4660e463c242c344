//! Node and group secrets: small files (licenses, keys) placed into a node's
//! image at install time, sealed at rest (`src/secrets.rs`) and answered only
//! with a token. A node's view includes its group's secrets; a node's
//! provisioning token may read its own.
//!
//! Items are `{"secretname", "content", "path"}`; upstream's `name` is accepted
//! for `secretname` and answered alongside it, since the `luna` CLI uses it.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::group::GROUP;
use crate::cmdb::node::NODE;
use crate::cmdb::resource::{require_id, Resource};

struct Owner {
    kind: &'static str,
    res: &'static Resource,
    table: &'static str,
    column: &'static str,
}

const NODE_OWNER: Owner = Owner {
    kind: "node",
    res: &NODE,
    table: "nodesecrets",
    column: "nodeid",
};
const GROUP_OWNER: Owner = Owner {
    kind: "group",
    res: &GROUP,
    table: "groupsecrets",
    column: "groupid",
};

const ITEM_KEYS: &[&str] = &["secretname", "name", "content", "path", "newsecretname"];

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" ._-".contains(&b))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if !valid_name(name) {
        return Err(ApiError::bad(format!(
            "invalid secret name '{name}': letters, digits, space, '.', '_', '-'"
        )));
    }
    Ok(())
}

fn item_name(item: &Map<String, Value>) -> Option<&str> {
    item.get("secretname")
        .or_else(|| item.get("name"))
        .and_then(Value::as_str)
}

/// Every node's and group's secrets, decrypted: for export.
pub fn export(ctx: &Ctx) -> Result<Value, ApiError> {
    Ok(json!({ "node": load(ctx, &NODE_OWNER, None)?, "group": load(ctx, &GROUP_OWNER, None)? }))
}

/// Restores exported secrets (`{"node": {name: [...]}, "group": {...}}`).
pub fn import(ctx: &Ctx, doc: &Value) -> Result<(), ApiError> {
    for owner in [&NODE_OWNER, &GROUP_OWNER] {
        for (name, list) in doc
            .get(owner.kind)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let id = require_id(ctx.tx, owner.res, name)?;
            for item in list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                let secret = item_name(item)
                    .ok_or_else(|| ApiError::bad(format!("a secret of {name} has no name")))?;
                upsert(ctx, owner, id, secret, item)?;
            }
        }
    }
    Ok(())
}

/// Secrets of one owner (or all owners), by owner name, decrypted.
fn load(ctx: &Ctx, owner: &Owner, id: Option<i64>) -> Result<Map<String, Value>, ApiError> {
    let filter = if id.is_some() {
        format!("WHERE s.{} = ?1", owner.column)
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT o.name, s.name, s.content, s.path FROM {} s JOIN \"{}\" o ON o.id = s.{} {filter} ORDER BY o.name, s.name",
        owner.table, owner.res.table, owner.column
    );
    let mut stmt = ctx.tx.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row| -> rusqlite::Result<(String, String, String, Option<String>)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let rows = match id {
        Some(id) => stmt.query_map([id], map)?.collect::<Result<Vec<_>, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
    };
    let mut out = Map::new();
    for (owner_name, name, sealed, path) in rows {
        let content = ctx
            .app
            .sealer
            .open(&sealed)
            .map_err(|e| ApiError::Internal(format!("secret {name}: {e}")))?;
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

/// `GET /config/secrets`
pub fn list_all(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let nodes = load(ctx, &NODE_OWNER, None)?;
    let groups = load(ctx, &GROUP_OWNER, None)?;
    Reply::ok(json!({ "config": { "secrets": { "node": nodes, "group": groups } } }))
}

/// `POST /config/secrets`, `POST /config/secrets/group/{group}`: not supported.
pub fn unsupported(_ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Err(ApiError::bad(
        "unsupported request: post secrets to /config/secrets/node/{node} or one at a time",
    ))
}

/// `GET /config/secrets/node/{node}`: the node's secrets and its group's.
pub fn node_all(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = require_id(ctx.tx, &NODE, &name)?;
    let group_id: i64 = ctx
        .tx
        .query_row("SELECT groupid FROM node WHERE id = ?1", [id], |r| r.get(0))?;
    let mut nodes = load(ctx, &NODE_OWNER, Some(id))?;
    nodes.entry(name.clone()).or_insert_with(|| json!([]));
    let groups = load(ctx, &GROUP_OWNER, Some(group_id))?;
    Reply::ok(json!({ "config": { "secrets": { "node": nodes, "group": groups } } }))
}

/// `GET /config/secrets/group/{group}`
pub fn group_all(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = require_id(ctx.tx, &GROUP, &name)?;
    let mut groups = load(ctx, &GROUP_OWNER, Some(id))?;
    groups.entry(name).or_insert_with(|| json!([]));
    Reply::ok(json!({ "config": { "secrets": { "group": groups } } }))
}

/// The items of `config.secrets.<kind>.<name>`.
fn items<'a>(
    ctx: &'a Ctx,
    owner: &Owner,
    name: &str,
) -> Result<Vec<&'a Map<String, Value>>, ApiError> {
    let list = ctx
        .config_section("secrets")?
        .get(owner.kind)
        .and_then(|o| o.get(name))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::bad(format!(
                "expected a list at 'config.secrets.{}.{name}'",
                owner.kind
            ))
        })?;
    if list.is_empty() {
        return Err(ApiError::bad("no secrets given"));
    }
    list.iter()
        .map(|i| {
            let obj = i
                .as_object()
                .ok_or_else(|| ApiError::bad("each secret must be an object"))?;
            if let Some(k) = obj.keys().find(|k| !ITEM_KEYS.contains(&k.as_str())) {
                return Err(ApiError::bad(format!("unknown field '{k}' in a secret")));
            }
            Ok(obj)
        })
        .collect()
}

/// Creates or updates one secret; true when created.
fn upsert(
    ctx: &Ctx,
    owner: &Owner,
    id: i64,
    name: &str,
    item: &Map<String, Value>,
) -> Result<bool, ApiError> {
    check_name(name)?;
    let existing: Option<i64> = ctx
        .tx
        .query_row(
            &format!(
                "SELECT id FROM {} WHERE {} = ?1 AND name = ?2",
                owner.table, owner.column
            ),
            params![id, name],
            |r| r.get(0),
        )
        .optional()?;
    let content = match item.get("content") {
        Some(Value::String(c)) => Some(c.as_str()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(ApiError::bad(format!(
                "content of secret '{name}' must be a string"
            )))
        }
    };
    let path = match item.get("path") {
        Some(Value::String(p)) if !p.starts_with('/') => {
            return Err(ApiError::bad(format!(
                "path of secret '{name}' must be absolute"
            )));
        }
        Some(Value::String(p)) => Some(p.as_str()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(ApiError::bad(format!(
                "path of secret '{name}' must be a string"
            )))
        }
    };
    let sealed = content
        .map(|c| ctx.app.sealer.seal(c))
        .transpose()
        .map_err(ApiError::Internal)?;
    match existing {
        Some(row) => {
            if let Some(sealed) = sealed {
                ctx.tx.execute(
                    &format!("UPDATE {} SET content = ?2 WHERE id = ?1", owner.table),
                    params![row, sealed],
                )?;
            }
            if let Some(path) = path {
                ctx.tx.execute(
                    &format!("UPDATE {} SET path = ?2 WHERE id = ?1", owner.table),
                    params![row, path],
                )?;
            }
            Ok(false)
        }
        None => {
            let sealed =
                sealed.ok_or_else(|| ApiError::bad(format!("secret '{name}' needs content")))?;
            ctx.tx.execute(
                &format!(
                    "INSERT INTO {} ({}, name, content, path) VALUES (?1, ?2, ?3, ?4)",
                    owner.table, owner.column
                ),
                params![id, name, sealed, path],
            )?;
            Ok(true)
        }
    }
}

/// `POST /config/secrets/node/{node}`: creates or updates every secret given.
pub fn node_bulk(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = require_id(ctx.tx, &NODE, &name)?;
    let mut created = false;
    for item in items(ctx, &NODE_OWNER, &name)? {
        if item.contains_key("newsecretname") {
            return Err(ApiError::bad("newsecretname is only accepted by _clone"));
        }
        let secret =
            item_name(item).ok_or_else(|| ApiError::bad("each secret needs a secretname"))?;
        created |= upsert(ctx, &NODE_OWNER, id, secret, item)?;
    }
    if created {
        Reply::created(format!("secrets of node {name} created or updated"))
    } else {
        Reply::updated()
    }
}

fn owner_of(ctx: &Ctx) -> &'static Owner {
    if ctx.req.path.starts_with("/config/secrets/group") {
        &GROUP_OWNER
    } else {
        &NODE_OWNER
    }
}

fn find(ctx: &Ctx, owner: &Owner) -> Result<(String, i64, String), ApiError> {
    let name = ctx.param(0).to_string();
    let id = require_id(ctx.tx, owner.res, &name)?;
    Ok((name, id, ctx.param(1).to_string()))
}

fn require_secret(
    ctx: &Ctx,
    owner: &Owner,
    id: i64,
    owner_name: &str,
    secret: &str,
) -> Result<i64, ApiError> {
    ctx.tx
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
            ApiError::not_found(format!(
                "{} '{owner_name}' has no secret '{secret}'",
                owner.kind
            ))
        })
}

/// `GET /config/secrets/{node|group}/{name}/{secret}`
pub fn show(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let (name, id, secret) = find(ctx, owner)?;
    require_secret(ctx, owner, id, &name, &secret)?;
    let all = load(ctx, owner, Some(id))?;
    let one: Vec<Value> = all
        .get(&name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s["secretname"] == json!(secret))
        .cloned()
        .collect();
    Reply::ok(json!({ "config": { "secrets": { owner.kind: { name: one } } } }))
}

/// `POST /config/secrets/{node|group}/{name}/{secret}`: the URL names the secret.
pub fn update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let (name, id, secret) = find(ctx, owner)?;
    let list = items(ctx, owner, &name)?;
    let [item] = list.as_slice() else {
        return Err(ApiError::bad("exactly one secret is expected"));
    };
    if item_name(item).is_some_and(|n| n != secret) {
        return Err(ApiError::bad(format!(
            "the secret in the body is not '{secret}'; use _clone to copy it"
        )));
    }
    if upsert(ctx, owner, id, &secret, item)? {
        Reply::created(format!("secret {secret} of {} {name} created", owner.kind))
    } else {
        Reply::updated()
    }
}

/// `POST /config/secrets/{node|group}/{name}/{secret}/_clone`
pub fn clone(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let (name, id, secret) = find(ctx, owner)?;
    let list = items(ctx, owner, &name)?;
    let [item] = list.as_slice() else {
        return Err(ApiError::bad("exactly one secret is expected"));
    };
    let new_name = item
        .get("newsecretname")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("newsecretname is required"))?;
    check_name(new_name)?;
    let src = require_secret(ctx, owner, id, &name, &secret)?;
    let taken: bool = ctx.tx.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ?1 AND name = ?2)",
            owner.table, owner.column
        ),
        params![id, new_name],
        |r| r.get(0),
    )?;
    if taken {
        return Err(ApiError::bad(format!("secret '{new_name}' already exists")));
    }
    ctx.tx.execute(
        &format!(
            "INSERT INTO {t} ({c}, name, content, path) SELECT {c}, ?2, content, path FROM {t} WHERE id = ?1",
            t = owner.table,
            c = owner.column
        ),
        params![src, new_name],
    )?;
    let mut rest = (*item).clone();
    rest.remove("newsecretname");
    rest.remove("secretname");
    rest.remove("name");
    upsert(ctx, owner, id, new_name, &rest)?;
    Reply::created(format!(
        "secret {secret} of {} {name} cloned to {new_name}",
        owner.kind
    ))
}

/// `GET /config/secrets/{node|group}/{name}/{secret}/_delete`
pub fn delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let (name, id, secret) = find(ctx, owner)?;
    let row = require_secret(ctx, owner, id, &name, &secret)?;
    ctx.tx
        .execute(&format!("DELETE FROM {} WHERE id = ?1", owner.table), [row])?;
    Reply::updated()
}
