//! OS image handlers: tags, tag members and deletion; pack, kernel, clone,
//! grab and push (queued as jobs, `jobs::osimage`); image monitoring. The
//! model is `cmdb::osimage`.

use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::osimage::{self, delete_tag_of, snapshot_tag, tag_users, tags_json, OSIMAGE};
use crate::jobs::osimage::Params;

/// `GET /config/osimagetag`
pub fn tags(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(json!({ "config": { "osimagetag": tags_json(ctx, None)? } }))
}

/// `GET /config/osimage/{name}/_pack`: queues a pack (kernel, initramfs,
/// tarball, torrent); a second one while it waits answers the same request id.
pub fn pack(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, _) = image_id(ctx)?;
    queue_pack(ctx, &name)
}

fn queue_pack(ctx: &Ctx, name: &str) -> Result<Reply, ApiError> {
    let params = Params {
        osimage: name.to_string(),
        label: name.to_string(),
        ..Default::default()
    };
    super::jobs::queued(ctx, "osimage", "pack", name, &params)
}

/// `POST /config/osimage/{name}/kernel`: changes the kernel settings
/// (`kernelversion`, `kernelmodules`, `kerneloptions`, ...), then packs
/// unless `bare` is true.
pub fn kernel(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, _) = image_id(ctx)?;
    let mut obj = ctx.config_object("osimage", &name)?.clone();
    let bare = match obj.remove("bare") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(v) => {
            return Err(ApiError::bad(format!(
                "bare must be true or false, not {v}"
            )))
        }
    };
    if obj.is_empty() && bare {
        return Err(ApiError::bad("the request changes nothing"));
    }
    if !obj.is_empty() {
        crate::cmdb::resource::post(ctx, &OSIMAGE, &name, &obj)?;
    }
    if bare {
        return Reply::updated();
    }
    queue_pack(ctx, &name)
}

/// `POST /config/osimage/{name}/_clone`: the new image's row now, its tree
/// copied and packed by a job.
pub fn clone(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, _) = image_id(ctx)?;
    // The spec: 404 is mandatory when the copy is not named (no body at all
    // included).
    let obj = if ctx.body_at(&format!("/config/osimage/{name}")).is_some() {
        ctx.config_object("osimage", &name)?.clone()
    } else {
        Default::default()
    };
    if !OSIMAGE.rename.iter().any(|k| obj.contains_key(*k)) {
        return Err(ApiError::not_found(format!(
            "{} is required: the name of the copy",
            OSIMAGE.rename.first().copied().unwrap_or("newosimage")
        )));
    }
    let copy = crate::cmdb::resource::clone(ctx, &OSIMAGE, &name, &obj)?;
    let params = Params {
        osimage: copy.clone(),
        source: Some(name.clone()),
        label: format!("{name} to {copy}"),
        ..Default::default()
    };
    // The copy exists now (201, the spec); its tree follows in the job.
    super::jobs::queued_created(ctx, "osimage", "clone", &copy, &params)
}

/// `POST /config/node/{name}/_osgrab`: rsync the node's tree into its image
/// (or `osimage`); a dry run unless `nodry` is true; packed afterwards
/// unless `bare`.
pub fn grab(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let node = ctx.param(0).to_string();
    crate::cmdb::resource::require_id(ctx.tx, &crate::cmdb::node::NODE, &node)?;
    let opts = image_job_options(ctx, "node", &node)?;
    let image = match opts.osimage {
        Some(i) => i,
        None => node_image(ctx, &node)?,
    };
    let params = Params {
        label: format!("{node} to {image}"),
        osimage: image,
        nodes: vec![node],
        // Grab is a dry run unless told otherwise (`nodry: true` as upstream,
        // or the spec's `dryrun: false`).
        dry_run: opts.dry_run.unwrap_or(!opts.nodry),
        bare: opts.bare,
        ..Default::default()
    };
    let target = params.osimage.clone();
    super::jobs::queued(ctx, "osimage", "grab", &target, &params)
}

/// `POST /config/node/{name}/_ospush`: rsync the node's image to it.
pub fn push_node(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let node = ctx.param(0).to_string();
    crate::cmdb::resource::require_id(ctx.tx, &crate::cmdb::node::NODE, &node)?;
    let opts = image_job_options(ctx, "node", &node)?;
    let dry = opts.push_dry_run();
    let image = match opts.osimage {
        Some(i) => i,
        None => node_image(ctx, &node)?,
    };
    push(ctx, image, vec![node.clone()], node, dry)
}

/// `POST /config/group/{name}/_ospush`: rsync the group's image to its nodes.
pub fn push_group(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let group = ctx.param(0).to_string();
    let nodes = osimage::group_nodes(ctx, &group)?;
    let opts = image_job_options(ctx, "group", &group)?;
    let dry = opts.push_dry_run();
    let image = match opts.osimage {
        Some(i) => i,
        None => ctx
            .tx
            .query_row(
                "SELECT o.name FROM \"group\" g JOIN osimage o ON o.id = g.osimageid WHERE g.name = ?1",
                [&group],
                |r| r.get::<_, String>(0),
            )
            .map_err(|_| {
                ApiError::not_found(format!(
                    "group {group} has no osimage: the job could not be started"
                ))
            })?,
    };
    if nodes.is_empty() {
        return Err(ApiError::not_found(format!(
            "group {group} has no nodes: the job could not be started"
        )));
    }
    push(ctx, image, nodes, format!("group {group}"), dry)
}

fn push(
    ctx: &Ctx,
    image: String,
    nodes: Vec<String>,
    label: String,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    crate::cmdb::resource::require_id(ctx.tx, &OSIMAGE, &image)?;
    let params = Params {
        label: format!("{image} to {label}"),
        osimage: image,
        nodes,
        dry_run,
        ..Default::default()
    };
    let target = params.osimage.clone();
    super::jobs::queued(ctx, "osimage", "push", &target, &params)
}

/// The options of a grab or push body (`config.<kind>.<name>`), all optional.
struct ImageJobOptions {
    osimage: Option<String>,
    nodry: bool,
    /// `dryrun`, when given.
    dry_run: Option<bool>,
    bare: bool,
}

impl ImageJobOptions {
    /// Push changes the nodes unless asked for a dry run (`dryrun: true`,
    /// or `nodry: false` given explicitly).
    fn push_dry_run(&self) -> bool {
        self.dry_run.unwrap_or(false)
    }
}

fn image_job_options(ctx: &Ctx, kind: &str, name: &str) -> Result<ImageJobOptions, ApiError> {
    let empty = Map::new();
    let obj = match &ctx.body {
        None => &empty,
        Some(_) => ctx.config_object(kind, name)?,
    };
    let flag = |key: &str| -> Result<bool, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(ApiError::bad(format!(
                "{key} must be true or false, not {v}"
            ))),
        }
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["osimage", "nodry", "dryrun", "bare"].contains(&k.as_str()))
    {
        return Err(ApiError::bad(format!(
            "unexpected field '{k}': osimage, nodry, dryrun and bare are accepted"
        )));
    }
    let osimage = match obj.get("osimage") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            crate::cmdb::resource::require_id(ctx.tx, &OSIMAGE, s)?;
            Some(s.clone())
        }
        Some(v) => return Err(ApiError::bad(format!("osimage must be a name, not {v}"))),
    };
    Ok(ImageJobOptions {
        osimage,
        nodry: flag("nodry")?,
        dry_run: match obj.get("dryrun") {
            None | Some(Value::Null) => None,
            Some(_) => Some(flag("dryrun")?),
        },
        bare: flag("bare")?,
    })
}

/// The image node `node` boots (its own or its group's).
fn node_image(ctx: &Ctx, node: &str) -> Result<String, ApiError> {
    let found = osimage::provisioning_addresses(ctx, &[node.to_string()])?;
    found
        .into_iter()
        .next()
        .and_then(|p| p.osimage)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "node {node} has no osimage: the job could not be started"
            ))
        })
}

/// `GET /monitor/osimage[/{name}]` and `/monitor/sync[/{name}]`.
fn image_states(ctx: &Ctx, kind: &str) -> Result<Reply, ApiError> {
    let states = |name: Option<&str>| match kind {
        "sync" => osimage::sync_states(ctx, name),
        _ => osimage::states(ctx, kind, name),
    };
    match ctx.params.first() {
        None => Reply::ok(json!({ "monitor": { "status": { kind: states(None)? } } })),
        Some(name) => {
            let states = states(Some(name))?;
            if states.is_empty() {
                return Err(ApiError::not_found(format!("no {kind} state for '{name}'")));
            }
            Reply::ok(json!({ "monitor": { "status": states } }))
        }
    }
}

/// `GET /monitor/osimage[/{name}]`
pub fn monitor(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    image_states(ctx, "osimage")
}

/// `GET /monitor/sync[/{name}]`
pub fn monitor_sync(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    image_states(ctx, "sync")
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
