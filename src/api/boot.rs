//! The boot path: iPXE menus and node scripts, install and kickstart templates.
//!
//! Nodes ask for these while they PXE-boot, without a token. The values come
//! from the model (`cmdb::boot`); here they are rendered into templates.
//!
//! A node that cannot be booted (unknown MAC, no kernel) gets a failure script
//! that says why and returns to the menu; iPXE shows it on the console, which is
//! where an admin standing at the node looks.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::{auth, ApiError, Ctx, Reply};
use crate::cmdb::boot::{self, NodeBoot, Urls};
use crate::cmdb::enroll;
use crate::cmdb::resource::lookup_id;
use crate::cmdb::value::Mac;

/// The state recorded when a node has fetched its boot script.
const DISCOVERED: &str = "install.discovered";
/// The state recorded when a node has fetched its install script.
const RENDERED: &str = "install.rendered";

fn render(ctx: &Ctx, template: &str, data: Value) -> Result<String, ApiError> {
    ctx.app
        .templates
        .get()
        .render(template, data)
        .map_err(ApiError::Template)
}

fn urls(ctx: &Ctx) -> Result<Urls, ApiError> {
    Ok(boot::urls(ctx, ctx.app.bound.port())?)
}

/// A failure script, answered with `status` (200 for the boot flow, as iPXE
/// would otherwise show only an HTTP error).
fn failed(ctx: &Ctx, status: u16, message: &str) -> Result<Reply, ApiError> {
    let urls = urls(ctx)?;
    let message = message.replace(['\n', '\r'], " ");
    Ok(Reply::Text(
        status,
        render(
            ctx,
            "templ_boot_failed.cfg",
            json!({ "message": message, "url": urls.api }),
        )?,
    ))
}

/// `GET /boot`
pub fn menu(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let urls = urls(ctx)?;
    let (nodes, groups) = boot::menu_entries(ctx.tx)?;
    let text = render(
        ctx,
        "templ_boot_ipxe.cfg",
        json!({ "url": urls.api, "nodes": nodes, "groups": groups }),
    )?;
    Ok(Reply::Text(200, text))
}

/// `GET /boot/short`
pub fn short(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let urls = urls(ctx)?;
    Ok(Reply::Text(
        200,
        render(ctx, "templ_boot_ipxe_short.cfg", json!({ "url": urls.api }))?,
    ))
}

/// `GET /boot/disk`
pub fn disk(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let urls = urls(ctx)?;
    Ok(Reply::Text(
        200,
        render(ctx, "templ_boot_disk.cfg", json!({ "url": urls.api }))?,
    ))
}

fn mac_param(ctx: &Ctx, idx: usize) -> Result<Mac, ApiError> {
    Ok(Mac::parse(ctx.param(idx))?)
}

/// `GET /boot/search/mac/{mac}`
pub fn search_mac(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mac = mac_param(ctx, 0)?;
    // Read before rendering: a write that lands meanwhile makes the entry stale.
    let generation = ctx.app.generation.load(Ordering::Acquire);
    if let Some(hit) = ctx.app.boot_scripts.get(&mac, generation) {
        if let Some(id) = hit.discovered {
            set_state(ctx, id, DISCOVERED);
        }
        return Ok(Reply::Text(200, hit.script));
    }
    let node = boot::node_with_mac(ctx.tx, &mac)?;
    let (reply, discovered) = match node {
        Some(id) => node_script(ctx, id, &mac)?,
        None => (
            failed(
                ctx,
                200,
                &format!("no node is configured with MAC address {mac}"),
            )?,
            None,
        ),
    };
    if let Reply::Text(200, script) = &reply {
        ctx.app.boot_scripts.put(
            mac,
            Script {
                generation,
                rendered: std::time::Instant::now(),
                discovered,
                script: script.clone(),
            },
        );
    }
    Ok(reply)
}

/// Boot scripts by MAC, as last rendered. A boot storm asks for the same few
/// thousand scripts again and again (iPXE retries, nodes reboot), and rendering
/// one reads the node, its group, image, interfaces and networks. An entry is
/// good while `App::generation` (bumped by every committed write) is unchanged,
/// and for `SCRIPT_TTL` at most, which bounds how long an edit made behind the
/// daemon's back (sqlite3 on the database file) goes unseen.
#[derive(Default)]
pub struct ScriptCache {
    entries: std::sync::RwLock<std::collections::HashMap<Mac, Script>>,
}

#[derive(Clone)]
pub struct Script {
    generation: u64,
    rendered: std::time::Instant,
    /// The node to mark discovered when the script is served.
    discovered: Option<i64>,
    script: String,
}

/// Entries at most; a full cache starts over (a cluster has fewer MACs).
const SCRIPTS_MAX: usize = 65_536;
const SCRIPT_TTL: std::time::Duration = std::time::Duration::from_secs(10);

impl ScriptCache {
    fn get(&self, mac: &Mac, generation: u64) -> Option<Script> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(mac)
            .filter(|s| s.generation == generation && s.rendered.elapsed() < SCRIPT_TTL)
            .cloned()
    }

    fn put(&self, mac: Mac, script: Script) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SCRIPTS_MAX {
            entries.clear();
        }
        // Entries of older generations go as soon as one newer is stored.
        if entries
            .values()
            .next()
            .is_some_and(|s| s.generation != script.generation)
        {
            entries.retain(|_, s| s.generation == script.generation);
        }
        entries.insert(mac, script);
    }
}

/// `GET /boot/manual/hostname/{node}/{mac}`: the MAC moves to that node.
pub fn manual_hostname(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let mac = mac_param(ctx, 1)?;
    let Some(id) = lookup_id(ctx.tx, "node", &name)? else {
        return failed(ctx, 404, &format!("node {name} does not exist"));
    };
    enroll::assign_mac(ctx.tx, id, &mac)?;
    Ok(node_script(ctx, id, &mac)?.0)
}

/// `GET /boot/manual/group/{group}/{mac}`: the first node of the group without
/// a MAC on its provisioning interface gets this one; a node is created when
/// there is none.
pub fn manual_group(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let group = ctx.param(0).to_string();
    let mac = mac_param(ctx, 1)?;
    let Some(group_id) = lookup_id(ctx.tx, "group", &group)? else {
        return failed(ctx, 404, &format!("group {group} does not exist"));
    };
    let id = enroll::claim_in_group(ctx.tx, group_id, &group, &mac)?;
    Ok(node_script(ctx, id, &mac)?.0)
}

/// Records a state reached on the boot path, written in the background.
fn set_state(ctx: &Ctx, node: i64, state: &'static str) {
    ctx.app.states.push(node, state);
}

/// The iPXE script that boots node `id`, which announced itself with `mac`.
/// Also returns the node when it was marked discovered.
fn node_script(ctx: &Ctx, id: i64, mac: &Mac) -> Result<(Reply, Option<i64>), ApiError> {
    let urls = urls(ctx)?;
    match boot::node_boot(ctx, id, mac, &urls)? {
        NodeBoot::Disk => Ok((
            Reply::Text(
                200,
                render(ctx, "templ_boot_disk.cfg", json!({ "url": urls.api }))?,
            ),
            None,
        )),
        NodeBoot::Net(values) => {
            set_state(ctx, id, DISCOVERED);
            let script = render(ctx, "templ_nodeboot.cfg", values)?;
            Ok((Reply::Text(200, script), Some(id)))
        }
        NodeBoot::Refused(why) => Ok((failed(ctx, 200, &why)?, None)),
    }
}

/// Install scripts are only for the node itself or a controller: the request
/// must come from one of the node's addresses, a controller's, or this host.
fn check_origin(ctx: &Ctx, node_id: i64, name: &str) -> Result<(), ApiError> {
    let Some(remote) = ctx.req.remote.map(|a| a.ip()) else {
        return Err(ApiError::Forbidden(
            "the request's origin is unknown".into(),
        ));
    };
    if remote == ctx.app.bound.ip() || boot::may_fetch_install(ctx.tx, node_id, remote)? {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "the install script of {name} is served only to {name} itself or a controller, not {remote}"
    )))
}

/// `GET /boot/install/{node}`: the node's install script.
pub fn install(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    install_with(ctx, "templ_install.cfg")
}

/// `GET /kickstart/install/{node}`: the node's kickstart file.
pub fn kickstart(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    install_with(ctx, "templ_install_kickstart.cfg")
}

fn install_with(ctx: &Ctx, template: &str) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = lookup_id(ctx.tx, "node", &name)?
        .ok_or_else(|| ApiError::not_found(format!("node '{name}' not found")))?;
    check_origin(ctx, id, &name)?;
    let token = auth::provision_token(ctx.app, &name)?;
    let values = boot::install_values(ctx, id, &urls(ctx)?, &token)?;
    let text = render(ctx, template, values)?;
    set_state(ctx, id, RENDERED);
    Ok(Reply::Text(200, text))
}

/// Roles and scripts run by the installer, as `{"target", "script"}`.
fn boot_file(ctx: &Ctx, kind: &str) -> Result<Reply, ApiError> {
    let (target, content) = boot::installer_file(&ctx.app.config.data_dir, kind, ctx.param(0))?;
    Ok(Reply::Json(
        200,
        json!({ "target": target, "script": crate::util::b64_encode(content.as_bytes()) }),
    ))
}

/// `GET /boot/roles/{role}`
pub fn role(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    boot_file(ctx, "role")
}

/// `GET /boot/scripts/{script}`
pub fn script(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    boot_file(ctx, "script")
}
