//! The boot path: iPXE menus and node scripts, install and kickstart templates.
//!
//! Nodes ask for these while they PXE-boot, without a token. Every value placed
//! in a boot script is checked for line breaks first: iPXE reads one command per
//! line, so a newline in, say, kernel options would inject commands.
//!
//! A node that cannot be booted (unknown MAC, no kernel) gets a failure script
//! that says why and returns to the menu; iPXE shows it on the console, which is
//! where an admin standing at the node looks.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use super::{auth, ApiError, Ctx, Reply};
use crate::cmdb::interface::normalize_mac;
use crate::cmdb::node::render_node;
use crate::cmdb::resource::lookup_id;
use crate::cmdb::{boot, enroll};

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

fn host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

struct Urls {
    controller: String,
    api: String,
    files: String,
}

fn urls(ctx: &Ctx) -> Result<Urls, ApiError> {
    let controller = boot::controller_ip(ctx.tx)?;
    let cfg = &ctx.app.config;
    let api = format!(
        "{}://{}:{}",
        cfg.api_protocol,
        host(&controller),
        ctx.app.bound.port()
    );
    let files = match &cfg.webserver {
        Some((proto, port)) => format!("{proto}://{}:{port}", host(&controller)),
        None => api.clone(),
    };
    Ok(Urls {
        controller,
        api,
        files,
    })
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

fn mac_param(ctx: &Ctx, idx: usize) -> Result<String, ApiError> {
    Ok(normalize_mac(ctx.param(idx))?)
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
    entries: std::sync::RwLock<std::collections::HashMap<String, Script>>,
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
    fn get(&self, mac: &str, generation: u64) -> Option<Script> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(mac)
            .filter(|s| s.generation == generation && s.rendered.elapsed() < SCRIPT_TTL)
            .cloned()
    }

    fn put(&self, mac: String, script: Script) {
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

/// Values that go into boot scripts must stay on their line.
fn one_line(what: &str, v: &str) -> Result<String, String> {
    if v.contains(['\n', '\r']) {
        return Err(format!("{what} contains a line break"));
    }
    Ok(v.to_string())
}

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Records a state reached on the boot path, written in the background.
fn set_state(ctx: &Ctx, node: i64, state: &'static str) {
    ctx.app.states.push(node, state);
}

/// The iPXE script that boots node `id`, which announced itself with `mac`.
/// Also returns the node when it was marked discovered.
fn node_script(ctx: &Ctx, id: i64, mac: &str) -> Result<(Reply, Option<i64>), ApiError> {
    let node = render_node(ctx, id)?;
    let name = text(&node, "name").to_string();
    if node.get("netboot") == Some(&Value::Bool(false)) {
        let urls = urls(ctx)?;
        return Ok((
            Reply::Text(
                200,
                render(ctx, "templ_boot_disk.cfg", json!({ "url": urls.api }))?,
            ),
            None,
        ));
    }
    match boot_values(ctx, &node, mac) {
        Ok(values) => {
            set_state(ctx, id, DISCOVERED);
            let script = render(ctx, "templ_nodeboot.cfg", values)?;
            Ok((Reply::Text(200, script), Some(id)))
        }
        Err(why) => Ok((
            failed(ctx, 200, &format!("cannot boot {name}: {why}"))?,
            None,
        )),
    }
}

fn boot_values(ctx: &Ctx, node: &Map<String, Value>, mac: &str) -> Result<Value, String> {
    let name = text(node, "name");
    let osimage = text(node, "osimage");
    if osimage.is_empty() {
        return Err("no osimage is set for the node or its group".into());
    }
    let img = boot::image(ctx.tx, osimage, text(node, "osimagetag"))
        .map_err(|e| format!("{e}"))?
        .ok_or_else(|| format!("osimage {osimage} does not exist"))?;
    let missing = |what: &str| format!("osimage {osimage} has no {what}: pack the osimage first");
    let kernelfile = img.kernelfile.ok_or_else(|| missing("kernelfile"))?;
    let initrdfile = img.initrdfile.ok_or_else(|| missing("initrdfile"))?;
    let iface = node
        .get("interfaces")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|i| i.get("macaddress").and_then(Value::as_str) == Some(mac))
        })
        .and_then(Value::as_object)
        .ok_or_else(|| format!("MAC {mac} is not on any interface of {name}"))?;
    let (ip, bootproto, gateway) = match (
        iface.get("ipaddress").and_then(Value::as_str),
        iface.get("network").and_then(Value::as_str),
    ) {
        (Some(ip), Some(net)) => {
            let (prefix, gw) = boot::network_facts(ctx.tx, net).map_err(|e| format!("{e}"))?;
            (format!("{ip}/{prefix}"), "static", gw.unwrap_or_default())
        }
        _ => ("dhcp".to_string(), "dhcp", String::new()),
    };
    let urls = urls(ctx).map_err(|e| format!("{e}"))?;
    let kerneloptions = crate::util::decode_text(text(node, "kerneloptions"));
    let service = if node.get("service") == Some(&Value::Bool(true)) {
        1
    } else {
        0
    };
    Ok(json!({
        "node": one_line("node", name)?,
        "group": one_line("group", text(node, "group"))?,
        "osimage": one_line("osimage", osimage)?,
        "hostname": one_line("hostname", text(node, "hostname"))?,
        "kernelfile": one_line("kernelfile", &kernelfile)?,
        "initrdfile": one_line("initrdfile", &initrdfile)?,
        "kerneloptions": one_line("kerneloptions", &kerneloptions)?,
        "mac": mac,
        "ip": ip,
        "bootproto": bootproto,
        "gateway": gateway,
        "url": urls.api,
        "files_url": urls.files,
        "controller": urls.controller,
        "verifycert": if ctx.app.config.verify_certificate { "yes" } else { "no" },
        "service": service,
    }))
}

/// Install scripts are only for the node itself or a controller: the request
/// must come from one of the node's addresses, a controller's, or this host.
fn check_origin(ctx: &Ctx, node_id: i64, name: &str) -> Result<(), ApiError> {
    let Some(remote) = ctx.req.remote.map(|a| a.ip()) else {
        return Err(ApiError::Forbidden(
            "the request's origin is unknown".into(),
        ));
    };
    if remote == ctx.app.bound.ip() {
        return Ok(());
    }
    let allowed = boot::install_origins(ctx.tx, node_id)?;
    if allowed
        .iter()
        .any(|ip| ip.parse::<IpAddr>().is_ok_and(|ip| ip == remote))
    {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "the install script of {name} is served only to {name} itself or a controller, not {remote}"
    )))
}

fn install_values(ctx: &Ctx, id: i64) -> Result<Value, ApiError> {
    let node = render_node(ctx, id)?;
    let name = text(&node, "name").to_string();
    let osimage = text(&node, "osimage").to_string();
    let img = boot::image(ctx.tx, &osimage, text(&node, "osimagetag"))?;
    let urls = urls(ctx)?;
    let token = auth::provision_token(ctx.app, &name)?;
    let mut interfaces = Vec::new();
    let mut bmc = json!({});
    for iface in node
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(iface) = iface.as_object() else {
            continue;
        };
        let mut entry = iface.clone();
        let (prefix, gateway) = match iface.get("network").and_then(Value::as_str) {
            Some(net) => boot::network_facts(ctx.tx, net)?,
            None => (0, None),
        };
        let netmask = ipnet::Ipv4Net::new(std::net::Ipv4Addr::UNSPECIFIED, prefix.min(32))
            .map(|n| n.netmask().to_string())
            .unwrap_or_default();
        // Templates read these keys whether set or not.
        for key in [
            "mtu",
            "vlanid",
            "vlan_parent",
            "bond_mode",
            "bond_slaves",
            "options",
            "macaddress",
            "ipaddress",
        ] {
            entry.entry(key).or_insert(Value::Null);
        }
        entry.insert("prefix".into(), json!(prefix));
        entry.insert("netmask".into(), json!(netmask));
        entry.insert("gateway".into(), json!(gateway.unwrap_or_default()));
        if text(iface, "interface") == "BMC" {
            bmc = Value::Object(entry);
        } else {
            interfaces.push(Value::Object(entry));
        }
    }
    if let Some(setup) = node.get("bmcsetup").and_then(Value::as_str) {
        let creds = boot::bmc_credentials(ctx.tx, setup)?;
        if let (Some((userid, username, password, netchannel, mgmtchannel)), Some(b)) =
            (creds, bmc.as_object_mut())
        {
            b.insert("userid".into(), json!(userid.unwrap_or(2)));
            b.insert("username".into(), json!(username.unwrap_or_default()));
            b.insert("password".into(), json!(password.unwrap_or_default()));
            b.insert("netchannel".into(), json!(netchannel.unwrap_or(1)));
            b.insert("mgmtchannel".into(), json!(mgmtchannel.unwrap_or(1)));
        }
    }
    let setupbmc = node.get("setupbmc") == Some(&Value::Bool(true))
        && bmc.get("ipaddress").is_some_and(|v| !v.is_null())
        && bmc.get("username").is_some();
    let script = |key: &str| crate::util::decode_text(text(&node, key));
    Ok(json!({
        "node": name,
        "hostname": text(&node, "hostname"),
        "group": text(&node, "group"),
        "token": token,
        "url": urls.api,
        "insecure": !ctx.app.config.verify_certificate,
        "osimage": osimage,
        "imagefile": img.as_ref().and_then(|i| i.imagefile.clone()).unwrap_or_default(),
        "distribution": img.as_ref().and_then(|i| i.distribution.clone()).unwrap_or_default(),
        "osrelease": img.as_ref().and_then(|i| i.osrelease.clone()).unwrap_or_default(),
        "provision_method": text(&node, "provision_method"),
        "provision_fallback": text(&node, "provision_fallback"),
        "provision_interface": text(&node, "provision_interface"),
        "roles": text(&node, "roles"),
        "scripts": text(&node, "scripts"),
        "systemroot": "/sysroot",
        "interfaces": interfaces,
        "setupbmc": setupbmc,
        "bmc": bmc,
        "prescript": script("prescript"),
        "partscript": script("partscript"),
        "postscript": script("postscript"),
    }))
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
    let values = install_values(ctx, id)?;
    let text = render(ctx, template, values)?;
    set_state(ctx, id, RENDERED);
    Ok(Reply::Text(200, text))
}

/// Roles and scripts run by the installer, kept as files under the data
/// directory (`roles/<name>`, `scripts/<name>`). A first line `# target: <t>`
/// says where the installer runs it (`postscript` when absent).
fn boot_file(ctx: &Ctx, kind: &str) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if !valid {
        return Err(ApiError::bad(format!(
            "invalid {kind} name '{}'",
            name.escape_default()
        )));
    }
    let path = ctx.app.config.data_dir.join(format!("{kind}s")).join(&name);
    let content = std::fs::read_to_string(&path)
        .map_err(|_| ApiError::not_found(format!("{kind} '{name}' not found")))?;
    let target = content
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# target:"))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| "postscript".into());
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
