//! OS image handlers: tags, tag members and deletion, pack; the model is `cmdb::osimage`.

use rusqlite::params;
use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::osimage::{tags_json, OSIMAGE};
use rusqlite::OptionalExtension;

use crate::cmdb::resource;

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
    resource::validate_name(&OSIMAGE, &tag)?;
    ctx.tx.execute(
        "INSERT INTO osimagetag (name, osimageid, kernelfile, initrdfile, imagefile, kerneloptions)
         SELECT ?2, id, kernelfile, initrdfile, imagefile, kerneloptions FROM osimage WHERE id = ?1
         ON CONFLICT(osimageid, name) DO UPDATE SET kernelfile = excluded.kernelfile, initrdfile = excluded.initrdfile,
             imagefile = excluded.imagefile, kerneloptions = excluded.kerneloptions",
        params![id, tag],
    )?;
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
    let members: Vec<String> = ctx
        .tx
        .prepare_cached(
            "SELECT n.name FROM node n JOIN \"group\" g ON g.id = n.groupid
             JOIN osimagetag t ON t.id = COALESCE(n.osimagetagid, g.osimagetagid)
             WHERE t.osimageid = ?1 ORDER BY n.name",
        )?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Reply::ok(json!({ "config": { "osimage": { name: { "members": members } } } }))
}

/// `GET /config/osimage/{osimage}/osimagetag/{tag}/_delete`
pub fn delete_tag(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = image_id(ctx)?;
    let tag = ctx.param(1).to_string();
    let tag_id: i64 = ctx
        .tx
        .query_row(
            "SELECT id FROM osimagetag WHERE osimageid = ?1 AND name = ?2",
            params![id, tag],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("osimage '{name}' has no tag '{tag}'")))?;
    let users: Vec<String> = ctx
        .tx
        .prepare_cached(
            "SELECT 'group ' || name FROM \"group\" WHERE osimagetagid = ?1
             UNION ALL SELECT 'node ' || name FROM node WHERE osimagetagid = ?1 LIMIT 10",
        )?
        .query_map([tag_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !users.is_empty() {
        return Err(ApiError::bad(format!(
            "tag '{tag}' of osimage '{name}' is in use by {}",
            users.join(", ")
        )));
    }
    ctx.tx
        .execute("DELETE FROM osimagetag WHERE id = ?1", [tag_id])?;
    Reply::updated()
}

/// The image named in the URL, and its id.
fn image_id(ctx: &Ctx) -> Result<(String, i64), ApiError> {
    let name = ctx.param(0).to_string();
    let id = crate::cmdb::resource::require_id(ctx.tx, &OSIMAGE, &name)?;
    Ok((name, id))
}
