//! Node and group interface handlers; the model is `cmdb::interface`.

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::cmdb::interface::{
    interfaces, remove_interface, set_interfaces, Owner, GROUP_OWNER, NODE_OWNER,
};
use crate::cmdb::resource;

fn list(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let ifaces = interfaces(ctx, owner, &name, None)?;
    Reply::ok(json!({ "config": { owner.res.kind: { name: { "interfaces": ifaces } } } }))
}

fn show(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let iface = ctx.param(1).to_string();
    let found = interfaces(ctx, owner, &name, Some(&iface))?;
    Reply::ok(json!({ "config": { owner.res.kind: { name: { "interfaces": found } } } }))
}

fn delete(owner: &Owner, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let iface = ctx.param(1).to_string();
    remove_interface(ctx, owner, &name, &iface)?;
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
    if set_interfaces(ctx, owner, id, entries)? {
        Reply::created("Interface created")
    } else {
        Reply::updated()
    }
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
