//! Node and group secrets (`/config/secrets/...`); the model, sealing included,
//! is `cmdb::secrets`.

use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::group::GROUP;
use crate::cmdb::node::NODE;
use crate::cmdb::resource::require_id;
use crate::cmdb::secrets::{
    copy_secret, delete_secret, group_of, item_name, load, require_secret, upsert, Owner, Upserted,
    GROUP_OWNER, ITEM_KEYS, NODE_OWNER,
};

/// `GET /config/secrets`
pub fn list_all(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let nodes = load(ctx, &NODE_OWNER, None)?;
    let groups = load(ctx, &GROUP_OWNER, None)?;
    Reply::ok(json!({ "config": { "secrets": { "node": nodes, "group": groups } } }))
}

/// `POST /config/secrets`: not supported.
pub fn unsupported(_ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Err(ApiError::bad(
        "unsupported request: post secrets to /config/secrets/node/{node} or /config/secrets/group/{group}",
    ))
}

/// `GET /config/secrets/node/{node}`: the node's secrets and its group's.
pub fn node_all(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = require_id(ctx.tx, &NODE, &name)?;
    let group_id = group_of(ctx, id)?;
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

/// `POST /config/secrets/{node|group}/{name}`: creates or updates every
/// secret given: 201 when one was created, 204 when one changed, 200 when
/// all were already so (the spec).
pub fn bulk(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let name = ctx.param(0).to_string();
    let id = require_id(ctx.tx, owner.res, &name)?;
    let mut outcome = Upserted::Unchanged;
    for item in items(ctx, owner, &name)? {
        if item.contains_key("newsecretname") {
            return Err(ApiError::bad("newsecretname is only accepted by _clone"));
        }
        let secret =
            item_name(item).ok_or_else(|| ApiError::bad("each secret needs a secretname"))?;
        outcome = match (outcome, upsert(ctx, owner, id, secret, item)?) {
            (Upserted::Created, _) | (_, Upserted::Created) => Upserted::Created,
            (Upserted::Updated, _) | (_, Upserted::Updated) => Upserted::Updated,
            _ => Upserted::Unchanged,
        };
    }
    match outcome {
        Upserted::Created => Reply::created(format!(
            "secrets of {} {name} created or updated",
            owner.kind
        )),
        Upserted::Updated => Reply::updated(),
        Upserted::Unchanged => Reply::ok(json!({
            "message": format!("secrets of {} {name} unchanged", owner.kind)
        })),
    }
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
    if upsert(ctx, owner, id, &secret, item)? == Upserted::Created {
        Reply::created(format!("secret {secret} of {} {name} created", owner.kind))
    } else {
        Reply::updated()
    }
}

/// `POST /config/secrets/{node|group}/{name}/{secret}/_clone`
pub fn clone(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let (name, id, secret) = find(ctx, owner)?;
    // The spec: 404 is mandatory when the copy is not named (no body, an
    // empty list, or no newsecretname).
    let unnamed = || ApiError::not_found("newsecretname is required: the name of the copy");
    let named = ctx
        .body_at(&format!("/config/secrets/{}/{name}", owner.kind))
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    if !named {
        return Err(unnamed());
    }
    let list = items(ctx, owner, &name)?;
    let [item] = list.as_slice() else {
        return Err(ApiError::bad("exactly one secret is expected"));
    };
    let new_name = item
        .get("newsecretname")
        .and_then(Value::as_str)
        .ok_or_else(unnamed)?;
    let mut rest = (*item).clone();
    rest.remove("newsecretname");
    rest.remove("secretname");
    rest.remove("name");
    copy_secret(ctx, owner, id, &name, &secret, new_name, &rest)?;
    Reply::created(format!(
        "secret {secret} of {} {name} cloned to {new_name}",
        owner.kind
    ))
}

/// `GET /config/secrets/{node|group}/{name}/{secret}/_delete`
pub fn delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let owner = owner_of(ctx);
    let (name, id, secret) = find(ctx, owner)?;
    delete_secret(ctx, owner, id, &name, &secret)?;
    Reply::updated()
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
