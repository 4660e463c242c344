//! OS image handlers: tags, tag members and deletion, pack; the model is `cmdb::osimage`.

use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::osimage::{delete_tag_of, snapshot_tag, tag_users, tags_json, OSIMAGE};

/// `GET /config/osimagetag`
pub fn tags(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(json!({ "config": { "osimagetag": tags_json(ctx, None)? } }))
}

/// `GET /config/osimage/{name}/_pack`, `POST .../kernel`: jobs not run yet.
pub fn pack(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, _) = image_id(ctx)?;
    Err(ApiError::Unavailable(format!(
        "packing osimage '{name}' needs the job queue, which this luna2d version does not have yet"
    )))
}

/// `POST /config/osimage/{name}/tag`: snapshots the current files under a tag.
pub fn tag(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = image_id(ctx)?;
    let obj = ctx.config_object("osimage", &name)?;
    if let Some(k) = obj.keys().find(|k| *k != "tag") {
        return Err(ApiError::bad(format!(
            "unexpected field '{k}': only 'tag' is accepted here"
        )));
    }
    let tag = obj
        .get("tag")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("tag is required"))?
        .to_string();
    snapshot_tag(ctx, id, &tag)?;
    Reply::updated()
}

/// `GET /config/osimagetag/{osimage}`
pub fn image_tags(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (_, id) = image_id(ctx)?;
    Reply::ok(json!({ "config": { "osimagetag": tags_json(ctx, Some(id))? } }))
}

/// `GET /config/osimagetag/{osimage}/_member`: nodes booting a tag of the image.
pub fn tag_members(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = image_id(ctx)?;
    let members = tag_users(ctx, id)?;
    Reply::ok(json!({ "config": { "osimage": { name: { "members": members } } } }))
}

/// `GET /config/osimage/{osimage}/osimagetag/{tag}/_delete`
pub fn delete_tag(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = image_id(ctx)?;
    let tag = ctx.param(1).to_string();
    delete_tag_of(ctx, id, &name, &tag)?;
    Reply::updated()
}

/// The image named in the URL, and its id.
fn image_id(ctx: &Ctx) -> Result<(String, i64), ApiError> {
    let name = ctx.param(0).to_string();
    let id = crate::cmdb::resource::require_id(ctx.tx, &OSIMAGE, &name)?;
    Ok((name, id))
}
