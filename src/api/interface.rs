//! Node and group interface handlers; the model is `cmdb::interface`.

use rusqlite::params;
use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::interface::{
    apply_group_entries, apply_node_entries, Owner, GROUP_OWNER, NODE_OWNER,
};
use crate::cmdb::ipam::Allocator;
use crate::cmdb::resource;

fn list(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = resource::require_id(ctx.tx, owner.res, &name)?;
    let ifaces = (owner.list)(ctx.tx, Some(id))?
        .remove(&id)
        .unwrap_or_default();
    Reply::ok(json!({ "config": { owner.res.kind: { name: { "interfaces": ifaces } } } }))
}

fn show(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let iface = ctx.param(1).to_string();
    let id = resource::require_id(ctx.tx, owner.res, &name)?;
    let found: Vec<Value> = (owner.list)(ctx.tx, Some(id))?
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.get("interface").and_then(Value::as_str) == Some(iface.as_str()))
        .collect();
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "{} '{name}' has no interface '{iface}'",
            owner.res.kind
        )));
    }
    Reply::ok(json!({ "config": { owner.res.kind: { name: { "interfaces": found } } } }))
}

fn delete(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let iface = ctx.param(1).to_string();
    let id = resource::require_id(ctx.tx, owner.res, &name)?;
    let removed = ctx.tx.execute(
        &format!(
            "DELETE FROM {} WHERE {} = ?1 AND interface = ?2",
            owner.table, owner.owner_column
        ),
        params![id, iface],
    )?;
    if removed == 0 {
        return Err(ApiError::not_found(format!(
            "{} '{name}' has no interface '{iface}'",
            owner.res.kind
        )));
    }
    if owner.table == "groupinterface" {
        ctx.tx.execute(
            "DELETE FROM nodeinterface WHERE interface = ?2 AND nodeid IN (SELECT id FROM node WHERE groupid = ?1)",
            params![id, iface],
        )?;
    }
    Reply::updated()
}

fn update(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = resource::require_id(ctx.tx, owner.res, &name)?;
    let obj = ctx.config_object(owner.res.kind, &name)?;
    if let Some(k) = obj.keys().find(|k| *k != "interfaces") {
        return Err(ApiError::bad(format!(
            "unexpected field '{k}': only 'interfaces' is accepted here"
        )));
    }
    let entries = obj
        .get("interfaces")
        .ok_or_else(|| ApiError::bad("interfaces is required"))?;
    let mut alloc = Allocator::default();
    if owner.table == "groupinterface" {
        apply_group_entries(ctx.tx, &mut alloc, id, entries)?;
    } else {
        apply_node_entries(ctx.tx, &mut alloc, id, entries)?;
    }
    Reply::updated()
}

pub fn node_list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    list(&NODE_OWNER, ctx)
}

pub fn node_show(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    show(&NODE_OWNER, ctx)
}

pub fn node_update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    update(&NODE_OWNER, ctx)
}

pub fn node_delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    delete(&NODE_OWNER, ctx)
}

pub fn group_list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    list(&GROUP_OWNER, ctx)
}

pub fn group_show(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    show(&GROUP_OWNER, ctx)
}

pub fn group_update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    update(&GROUP_OWNER, ctx)
}

pub fn group_delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    delete(&GROUP_OWNER, ctx)
}
