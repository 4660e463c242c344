//! What a node's boot reads: the values its iPXE script and install script are
//! rendered from, the boot menu's entries, who may fetch an install script, the
//! installer's roles and scripts. Rendering them into text is the API's.
//!
//! Every value placed in a boot script is checked for line breaks first: iPXE
//! reads one command per line, so a newline in, say, kernel options would
//! inject commands.

use std::net::IpAddr;
use std::path::Path;

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

use super::node::render_node;
use super::value::Mac;
use super::{Error, Store};

/// The controller's address as nodes see it: the beacon controller's IP.
fn controller_ip(tx: &Transaction) -> Result<String, Error> {
    let ip: Option<String> = tx
        .prepare_cached(
            "SELECT a.ipaddress FROM controller c JOIN ipaddress a ON a.controllerid = c.id
             ORDER BY c.beacon DESC, c.id LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    ip.ok_or_else(|| Error::Internal("the controller has no IP address".into()))
}

/// The OS image files a node boots: the tag's when one is set.
struct Image {
    kernelfile: Option<String>,
    initrdfile: Option<String>,
    imagefile: Option<String>,
    distribution: Option<String>,
    osrelease: Option<String>,
}

fn image(tx: &Transaction, osimage: &str, tag: &str) -> Result<Option<Image>, Error> {
    Ok(tx
        .prepare_cached(
            "SELECT COALESCE(t.kernelfile, o.kernelfile), COALESCE(t.initrdfile, o.initrdfile),
                    COALESCE(t.imagefile, o.imagefile), o.distribution, o.osrelease
             FROM osimage o LEFT JOIN osimagetag t ON t.osimageid = o.id AND t.name = ?2 WHERE o.name = ?1",
        )?
        .query_row(params![osimage, tag], |r| {
            Ok(Image {
                kernelfile: r.get(0)?,
                initrdfile: r.get(1)?,
                imagefile: r.get(2)?,
                distribution: r.get(3)?,
                osrelease: r.get(4)?,
            })
        })
        .optional()?)
}

/// A network's prefix length and gateway, by name.
fn network_facts(tx: &Transaction, name: &str) -> Result<(u8, Option<String>), Error> {
    let (cidr, gateway): (String, Option<String>) = tx
        .prepare_cached("SELECT network, gateway FROM network WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let prefix = cidr
        .parse::<ipnet::IpNet>()
        .map(|n| n.prefix_len())
        .unwrap_or(0);
    Ok((prefix, gateway))
}

/// `(userid, username, password, netchannel, mgmtchannel)` of a BMC setup.
type BmcCredentials = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// A BMC setup's credentials and channels, by setup name.
fn bmc_credentials(tx: &Transaction, setup: &str) -> Result<Option<BmcCredentials>, Error> {
    Ok(tx
        .prepare_cached("SELECT userid, username, password, netchannel, mgmtchannel FROM bmcsetup WHERE name = ?1")?
        .query_row([setup], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?)
}

/// The boot menu's entries: nodes without a MAC yet, groups with an OS image.
pub fn menu_entries(tx: &Transaction) -> Result<(Vec<String>, Vec<String>), Error> {
    let nodes: Vec<String> = tx
        .prepare_cached(
            "SELECT n.name FROM node n WHERE NOT EXISTS
               (SELECT 1 FROM nodeinterface ni WHERE ni.nodeid = n.id AND ni.macaddress IS NOT NULL)
             ORDER BY n.name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let groups: Vec<String> = tx
        .prepare_cached("SELECT name FROM \"group\" WHERE osimageid IS NOT NULL ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((nodes, groups))
}

/// The addresses that may fetch node `node`'s install script: its own and
/// every controller's.
fn install_origins(tx: &Transaction, node: i64) -> Result<Vec<String>, Error> {
    let allowed: Vec<String> = tx
        .prepare_cached(
            "SELECT a.ipaddress FROM ipaddress a JOIN nodeinterface ni ON ni.id = a.nodeinterfaceid
             WHERE ni.nodeid = ?1 AND a.ipaddress IS NOT NULL
             UNION SELECT ipaddress FROM ipaddress WHERE controllerid IS NOT NULL AND ipaddress IS NOT NULL",
        )?
        .query_map([node], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(allowed)
}

/// The node whose interface has `mac`.
pub fn node_with_mac(tx: &Transaction, mac: &Mac) -> Result<Option<i64>, Error> {
    Ok(tx
        .prepare_cached("SELECT nodeid FROM nodeinterface WHERE macaddress = ?1")?
        .query_row([mac.as_str()], |r| r.get(0))
        .optional()?)
}

/// Where nodes reach the controller: its address, the API's base URL and the
/// base URL image files are fetched from (a separate web server's, if any).
pub struct Urls {
    pub controller: String,
    pub api: String,
    pub files: String,
}

fn host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// The URLs for nodes, with the API answering on `port`.
pub fn urls(store: &Store, port: u16) -> Result<Urls, Error> {
    let controller = controller_ip(store.tx)?;
    let cfg = store.config;
    let api = format!("{}://{}:{port}", cfg.api_protocol, host(&controller));
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

/// How node `id`, which announced itself with `mac`, boots.
pub enum NodeBoot {
    /// From its local disk (`netboot` is off).
    Disk,
    /// Over the network, with these values for the boot script.
    Net(Value),
    /// It cannot boot: why, for the failure script on its console.
    Refused(String),
}

pub fn node_boot(store: &Store, id: i64, mac: &Mac, urls: &Urls) -> Result<NodeBoot, Error> {
    let node = render_node(store, id)?;
    if node.get("netboot") == Some(&Value::Bool(false)) {
        return Ok(NodeBoot::Disk);
    }
    Ok(match boot_values(store, &node, mac, urls) {
        Ok(values) => NodeBoot::Net(values),
        Err(why) => NodeBoot::Refused(format!("cannot boot {}: {why}", text(&node, "name"))),
    })
}

fn boot_values(
    store: &Store,
    node: &Map<String, Value>,
    mac: &Mac,
    urls: &Urls,
) -> Result<Value, String> {
    let name = text(node, "name");
    let osimage = text(node, "osimage");
    if osimage.is_empty() {
        return Err("no osimage is set for the node or its group".into());
    }
    let img = image(store.tx, osimage, text(node, "osimagetag"))
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
                .find(|i| i.get("macaddress").and_then(Value::as_str) == Some(mac.as_str()))
        })
        .and_then(Value::as_object)
        .ok_or_else(|| format!("MAC {mac} is not on any interface of {name}"))?;
    let (ip, bootproto, gateway) = match (
        iface.get("ipaddress").and_then(Value::as_str),
        iface.get("network").and_then(Value::as_str),
    ) {
        (Some(ip), Some(net)) => {
            let (prefix, gw) = network_facts(store.tx, net).map_err(|e| format!("{e}"))?;
            (format!("{ip}/{prefix}"), "static", gw.unwrap_or_default())
        }
        _ => ("dhcp".to_string(), "dhcp", String::new()),
    };
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
        "mac": mac.as_str(),
        "ip": ip,
        "bootproto": bootproto,
        "gateway": gateway,
        "url": urls.api,
        "files_url": urls.files,
        "controller": urls.controller,
        "verifycert": if store.config.verify_certificate { "yes" } else { "no" },
        "service": service,
    }))
}

/// Whether `remote` may fetch node `node`'s install script: it is one of the
/// node's addresses or a controller's.
pub fn may_fetch_install(tx: &Transaction, node: i64, remote: IpAddr) -> Result<bool, Error> {
    Ok(install_origins(tx, node)?
        .iter()
        .any(|ip| ip.parse::<IpAddr>().is_ok_and(|ip| ip == remote)))
}

/// The values node `id`'s install script is rendered from; `token` is the
/// provisioning token it reports back with.
pub fn install_values(store: &Store, id: i64, urls: &Urls, token: &str) -> Result<Value, Error> {
    let node = render_node(store, id)?;
    let name = text(&node, "name");
    let osimage = text(&node, "osimage");
    let img = image(store.tx, osimage, text(&node, "osimagetag"))?;
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
            Some(net) => network_facts(store.tx, net)?,
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
        let creds = bmc_credentials(store.tx, setup)?;
        if let (Some((userid, username, password, netchannel, mgmtchannel)), Some(b)) =
            (creds, bmc.as_object_mut())
        {
            b.insert("userid".into(), json!(userid.unwrap_or(2)));
            b.insert("username".into(), json!(username.unwrap_or_default()));
            let password = store
                .sealer
                .open(password.as_deref().unwrap_or_default())
                .map_err(|e| Error::Internal(format!("BMC setup {setup}: password: {e}")))?;
            b.insert("password".into(), json!(password));
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
        "insecure": !store.config.verify_certificate,
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

/// The role and script named `default`, shipped (`etc/roles`, `etc/scripts`).
const DEFAULT_ROLE: &str = include_str!("../../etc/roles/default");
const DEFAULT_SCRIPT: &str = include_str!("../../etc/scripts/default");

/// A role or script the installer runs (`kind` is `role` or `script`), kept
/// as a file under `<data>/<kind>s/`. Answers where the installer runs it (a
/// first line `# target: <t>`; `postscript` when absent) and its content.
pub fn installer_file(data_dir: &Path, kind: &str, name: &str) -> Result<(String, String), Error> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if !valid {
        return Err(Error::invalid(format!(
            "invalid {kind} name '{}'",
            name.escape_default()
        )));
    }
    let path = data_dir.join(format!("{kind}s")).join(name);
    let content = match std::fs::read_to_string(&path) {
        Ok(content) => content,
        // The shipped defaults, unless a file of the data directory replaces them.
        Err(_) if name == "default" && kind == "role" => DEFAULT_ROLE.to_string(),
        Err(_) if name == "default" && kind == "script" => DEFAULT_SCRIPT.to_string(),
        Err(_) => return Err(Error::not_found(format!("{kind} '{name}' not found"))),
    };
    let target = content
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# target:"))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| "postscript".into());
    Ok((target, content))
}
