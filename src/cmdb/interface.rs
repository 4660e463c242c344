//! Node and group interfaces, and the addresses they hold.
//!
//! A node interface may carry one address row (`ipaddress`) tying it to a
//! network. Group interfaces name a network; every member node gets an interface
//! of the same name with an address in that network. Addresses are handed out by
//! `ipam::Allocator`, which loads each network's taken set once per request.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use rusqlite::types::Value as Sql;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use super::ipam::{ipv4_num, Allocator};
use super::network::{DEVICE, DEVICE_JOINS};
use super::resource::{self, field, to_json, to_sql, Field, Kind, Select};
use super::value::{self, Mac};
use super::{group, node, Error, Store};

const BOND_MODES: &[&str] = &[
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
];

/// Interface columns shared by node and group interfaces.
static IFACE_FIELDS: &[Field] = &[
    field(
        "mtu",
        Kind::Int {
            min: 68,
            max: 65535,
        },
    ),
    field("vlanid", Kind::Int { min: 1, max: 4094 }),
    field("vlan_parent", Kind::Text),
    field("bond_mode", Kind::Choice(BOND_MODES)),
    field("bond_slaves", Kind::Text),
    field("options", Kind::Text),
];

const NODE_KEYS: &[&str] = &[
    "interface",
    "newinterfacename",
    "macaddress",
    "network",
    "ipaddress",
    "ipaddress_ipv6",
    "dhcp",
    "force",
    "mtu",
    "vlanid",
    "vlan_parent",
    "bond_mode",
    "bond_slaves",
    "options",
    "comment",
];
const GROUP_KEYS: &[&str] = &[
    "interface",
    "newinterfacename",
    "network",
    "dhcp",
    "mtu",
    "vlanid",
    "vlan_parent",
    "bond_mode",
    "bond_slaves",
    "options",
    "comment",
];

fn empty(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Null)) || v.and_then(Value::as_str) == Some("")
}

fn validate_iface_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
    if !ok {
        return Err(Error::invalid(format!("invalid interface name '{name}'")));
    }
    Ok(())
}

fn entry_objects<'a>(
    entries: &'a Value,
    allowed: &[&str],
) -> Result<Vec<&'a Map<String, Value>>, Error> {
    let list = entries
        .as_array()
        .ok_or_else(|| Error::invalid("interfaces must be a list"))?;
    let mut out = Vec::new();
    for e in list {
        let obj = e
            .as_object()
            .ok_or_else(|| Error::invalid("each interface must be an object"))?;
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::invalid(format!("unknown interface field '{k}'")));
        }
        let name = obj
            .get("interface")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid("each interface needs an 'interface' name"))?;
        validate_iface_name(name)?;
        out.push(obj);
    }
    Ok(out)
}

fn network_by_name(tx: &Transaction, name: &str) -> Result<i64, Error> {
    resource::lookup_id(tx, "network", name)?
        .ok_or_else(|| Error::invalid(format!("network '{name}' does not exist")))
}

fn bool_value(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => resource::parse_bool(v)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("invalid {key} '{v}': expected true or false"))),
    }
}

fn write_columns(
    tx: &Transaction,
    table: &str,
    id: i64,
    cols: &[(&Field, Sql)],
) -> Result<(), Error> {
    if cols.is_empty() {
        return Ok(());
    }
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (f, _))| format!("\"{}\" = ?{}", f.name, i + 2))
        .collect();
    let sql = format!("UPDATE {table} SET {} WHERE id = ?1", sets.join(", "));
    let values = std::iter::once(Sql::Integer(id)).chain(cols.iter().map(|(_, v)| v.clone()));
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

fn iface_columns<'f>(
    tx: &Transaction,
    obj: &Map<String, Value>,
) -> Result<Vec<(&'f Field, Sql)>, Error>
where
    'static: 'f,
{
    let mut cols = Vec::new();
    for f in IFACE_FIELDS {
        if let Some(v) = obj.get(f.name) {
            cols.push((f, to_sql(tx, f, v)?));
        }
    }
    Ok(cols)
}

struct NetInfo {
    name: String,
    v4: Option<Ipv4Net>,
    v6: Option<IpNet>,
    pool_dhcp: bool,
}

fn net_info(tx: &Transaction, id: i64) -> Result<NetInfo, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT name, network, network_ipv6, COALESCE(dhcp, 0) AND COALESCE(dhcp_nodes_in_pool, 0) FROM network WHERE id = ?1",
    )?;
    let (name, v4, v6, pool_dhcp): (String, String, Option<String>, bool) =
        stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(NetInfo {
        name,
        v4: v4.parse().ok(),
        v6: v6.and_then(|s| s.parse().ok()),
        pool_dhcp,
    })
}

/// What address an interface should hold in a network.
enum Want {
    /// Keep the current address when it is in this network, else take the next free.
    Auto,
    Explicit(Ipv4Addr),
}

/// Points interface `iface` at network `net` with an address.
fn assign(
    tx: &Transaction,
    alloc: &mut Allocator,
    iface: i64,
    net: i64,
    want: Want,
    dhcp: Option<bool>,
    force: bool,
) -> Result<(), Error> {
    let info = net_info(tx, net)?;
    let current: Option<(i64, Option<String>, Option<i64>)> = tx
        .prepare_cached(
            "SELECT networkid, ipaddress, dhcp FROM ipaddress WHERE nodeinterfaceid = ?1",
        )?
        .query_row([iface], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let dhcp = dhcp
        .or(current.as_ref().and_then(|c| c.2).map(|d| d != 0))
        .unwrap_or(false);
    let ip: Option<Ipv4Addr> = match want {
        Want::Explicit(ip) => {
            let v4 = info.v4.ok_or_else(|| {
                Error::invalid(format!("network '{}' has no IPv4 range", info.name))
            })?;
            if !v4.contains(&ip)
                || (v4.prefix_len() < 31 && (ip == v4.network() || ip == v4.broadcast()))
            {
                return Err(Error::invalid(format!(
                    "ipaddress {ip} is not a host address of network '{}' ({v4})",
                    info.name
                )));
            }
            release_conflict(tx, &ip.to_string(), iface, force)?;
            alloc.mark(net, ip);
            Some(ip)
        }
        Want::Auto => match &current {
            Some((cur_net, Some(cur_ip), _)) if *cur_net == net => cur_ip.parse().ok(),
            _ if info.pool_dhcp && dhcp => None,
            _ => {
                let pool = alloc.pool(tx, net)?.ok_or_else(|| {
                    Error::invalid(format!("network '{}' has no IPv4 range", info.name))
                })?;
                Some(pool.allocate(tx)?.ok_or_else(|| {
                    Error::invalid(format!("network '{}' has no free address left", info.name))
                })?)
            }
        },
    };
    let text = ip.map(|i| i.to_string());
    let num = text.as_deref().and_then(ipv4_num);
    if current.is_some() {
        tx.prepare_cached(
            "UPDATE ipaddress SET networkid = ?2, ipaddress = ?3, ipnum = ?4, dhcp = ?5 WHERE nodeinterfaceid = ?1",
        )?
        .execute(params![iface, net, text, num, dhcp as i64])?;
    } else {
        tx.prepare_cached(
            "INSERT INTO ipaddress (nodeinterfaceid, networkid, ipaddress, ipnum, dhcp) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![iface, net, text, num, dhcp as i64])?;
    }
    Ok(())
}

/// Refuses an address held by someone else, or takes it from another node
/// interface when `force` is set.
fn release_conflict(tx: &Transaction, ip: &str, iface: i64, force: bool) -> Result<(), Error> {
    let holder: Option<(Option<i64>, String, Option<String>)> = tx
        .prepare_cached(&format!(
            "SELECT a.nodeinterfaceid, {DEVICE}, dni.interface FROM ipaddress a {DEVICE_JOINS}
             WHERE (a.ipaddress = ?1 OR a.ipaddress_ipv6 = ?1) AND a.nodeinterfaceid IS NOT ?2"
        ))?
        .query_row(params![ip, iface], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((other_iface, device, iface_name)) = holder else {
        return Ok(());
    };
    if force && other_iface.is_some() {
        tx.execute(
            "UPDATE ipaddress SET ipaddress = NULL, ipnum = NULL WHERE ipaddress = ?1",
            [ip],
        )?;
        tx.execute(
            "UPDATE ipaddress SET ipaddress_ipv6 = NULL WHERE ipaddress_ipv6 = ?1",
            [ip],
        )?;
        return Ok(());
    }
    let on = iface_name
        .map(|i| format!(" interface {i}"))
        .unwrap_or_default();
    Err(Error::invalid(format!(
        "ipaddress {ip} is already in use by {device}{on}"
    )))
}

fn set_ipv6(tx: &Transaction, iface: i64, value: &Value, force: bool) -> Result<(), Error> {
    if empty(Some(value)) {
        tx.execute(
            "UPDATE ipaddress SET ipaddress_ipv6 = NULL WHERE nodeinterfaceid = ?1",
            [iface],
        )?;
        return Ok(());
    }
    let s = value
        .as_str()
        .ok_or_else(|| Error::invalid("ipaddress_ipv6 must be a string"))?;
    let ip = match s.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => ip,
        _ => return Err(Error::invalid(format!("invalid ipaddress_ipv6 '{s}'"))),
    };
    let net: Option<i64> = tx
        .prepare_cached("SELECT networkid FROM ipaddress WHERE nodeinterfaceid = ?1")?
        .query_row([iface], |r| r.get(0))
        .optional()?;
    let net =
        net.ok_or_else(|| Error::invalid("ipaddress_ipv6 needs the interface to be on a network"))?;
    let info = net_info(tx, net)?;
    if !info.v6.is_some_and(|n| n.contains(&IpAddr::V6(ip))) {
        return Err(Error::invalid(format!(
            "ipaddress_ipv6 {ip} is not inside the IPv6 range of network '{}'",
            info.name
        )));
    }
    release_conflict(tx, &ip.to_string(), iface, force)?;
    tx.execute(
        "UPDATE ipaddress SET ipaddress_ipv6 = ?2 WHERE nodeinterfaceid = ?1",
        params![iface, ip.to_string()],
    )?;
    Ok(())
}

fn node_iface_id(tx: &Transaction, node: i64, name: &str) -> Result<Option<i64>, Error> {
    Ok(tx
        .prepare_cached("SELECT id FROM nodeinterface WHERE nodeid = ?1 AND interface = ?2")?
        .query_row(params![node, name], |r| r.get(0))
        .optional()?)
}

/// Applies a node's `interfaces` list: create or update each entry.
pub fn apply_node_entries(
    tx: &Transaction,
    alloc: &mut Allocator,
    node: i64,
    entries: &Value,
) -> Result<(), Error> {
    for obj in entry_objects(entries, NODE_KEYS)? {
        let name = obj
            .get("interface")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let force = bool_value(obj, "force")?.unwrap_or(false);
        let dhcp = bool_value(obj, "dhcp")?;
        let cols = iface_columns(tx, obj)?;
        let mac = match obj.get("macaddress") {
            None => None,
            Some(v) if empty(Some(v)) => Some(None),
            Some(Value::String(s)) => Some(Some(Mac::parse(s)?.into_string())),
            Some(v) => return Err(Error::invalid(format!("invalid MAC address '{v}'"))),
        };
        let existing = node_iface_id(tx, node, name)?;
        if let Some(Some(mac)) = &mac {
            let holder: Option<(String, String)> = tx
                .prepare_cached(
                    "SELECT n.name, ni.interface FROM nodeinterface ni JOIN node n ON n.id = ni.nodeid
                     WHERE ni.macaddress = ?1 AND ni.id IS NOT ?2",
                )?
                .query_row(params![mac, existing], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((n, i)) = holder {
                return Err(Error::invalid(format!(
                    "MAC address {mac} is already in use by {n} interface {i}"
                )));
            }
        }
        let iface = match existing {
            Some(id) => id,
            None => {
                tx.prepare_cached("INSERT INTO nodeinterface (nodeid, interface) VALUES (?1, ?2)")?
                    .execute(params![node, name])?;
                tx.last_insert_rowid()
            }
        };
        write_columns(tx, "nodeinterface", iface, &cols)?;
        if let Some(mac) = mac {
            tx.prepare_cached("UPDATE nodeinterface SET macaddress = ?2 WHERE id = ?1")?
                .execute(params![iface, mac])?;
        }
        if let Some(new_name) = obj.get("newinterfacename") {
            let new_name = new_name
                .as_str()
                .ok_or_else(|| Error::invalid("newinterfacename must be a string"))?;
            validate_iface_name(new_name)?;
            if node_iface_id(tx, node, new_name)?.is_some() {
                return Err(Error::invalid(format!(
                    "interface {new_name} already exists"
                )));
            }
            tx.execute(
                "UPDATE nodeinterface SET interface = ?2 WHERE id = ?1",
                params![iface, new_name],
            )?;
        }

        // Addressing.
        let ip_given = obj.get("ipaddress").filter(|v| !empty(Some(v)));
        let net_given = obj.get("network");
        if empty(net_given)
            || (empty(obj.get("ipaddress")) && net_given.is_none() && obj.contains_key("ipaddress"))
        {
            tx.execute("DELETE FROM ipaddress WHERE nodeinterfaceid = ?1", [iface])?;
        } else {
            let net = match net_given.and_then(Value::as_str) {
                Some(n) => Some(network_by_name(tx, n)?),
                None => None,
            };
            let explicit = match ip_given {
                Some(v) => {
                    let s = v
                        .as_str()
                        .ok_or_else(|| Error::invalid("ipaddress must be a string"))?;
                    Some(value::ipv4("ipaddress", s)?)
                }
                None => None,
            };
            let current_net: Option<i64> = tx
                .prepare_cached("SELECT networkid FROM ipaddress WHERE nodeinterfaceid = ?1")?
                .query_row([iface], |r| r.get(0))
                .optional()?;
            let group_net = if existing.is_none() && net.is_none() && explicit.is_none() {
                group_iface_network(tx, node, name)?
            } else {
                None
            };
            let target = match (net, explicit) {
                (Some(n), _) => Some(n),
                (None, Some(ip)) => Some(match current_net {
                    Some(c) if net_info(tx, c)?.v4.is_some_and(|v4| v4.contains(&ip)) => c,
                    _ => super::ipam::network_containing(tx, ip)?,
                }),
                (None, None) => group_net.or(if dhcp.is_some() { current_net } else { None }),
            };
            if let Some(target) = target {
                let want = explicit.map(Want::Explicit).unwrap_or(Want::Auto);
                assign(tx, alloc, iface, target, want, dhcp, force)?;
            }
        }
        if let Some(v6) = obj.get("ipaddress_ipv6") {
            set_ipv6(tx, iface, v6, force)?;
        }
    }
    Ok(())
}

fn group_iface_network(tx: &Transaction, node: i64, iface: &str) -> Result<Option<i64>, Error> {
    Ok(tx
        .prepare_cached(
            "SELECT gi.networkid FROM groupinterface gi JOIN node n ON n.groupid = gi.groupid
             WHERE n.id = ?1 AND gi.interface = ?2",
        )?
        .query_row(params![node, iface], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

/// Gives node `node` an interface `name` on network `net`, keeping its address
/// when it already has one there.
fn ensure_node_iface(
    tx: &Transaction,
    alloc: &mut Allocator,
    node: i64,
    name: &str,
    net: Option<i64>,
    dhcp: Option<bool>,
) -> Result<(), Error> {
    let iface = match node_iface_id(tx, node, name)? {
        Some(id) => id,
        None => {
            tx.prepare_cached("INSERT INTO nodeinterface (nodeid, interface) VALUES (?1, ?2)")?
                .execute(params![node, name])?;
            tx.last_insert_rowid()
        }
    };
    if let Some(net) = net {
        assign(tx, alloc, iface, net, Want::Auto, dhcp, false)?;
    }
    Ok(())
}

type GroupIface = (String, Option<i64>, Option<bool>);

fn group_ifaces(tx: &Transaction, group: i64) -> Result<Vec<GroupIface>, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT interface, networkid, dhcp FROM groupinterface WHERE groupid = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([group], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, Option<i64>>(2)?.map(|d| d != 0),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Moves a node from `old` (None on create) to `new`: the new group's interfaces
/// are created or renumbered only where the node's address does not already fit,
/// and interfaces that came from the old group alone are removed.
pub fn regroup(
    tx: &Transaction,
    alloc: &mut Allocator,
    node: i64,
    old: Option<i64>,
    new: i64,
) -> Result<(), Error> {
    let new_ifaces = group_ifaces(tx, new)?;
    for (name, net, dhcp) in &new_ifaces {
        ensure_node_iface(tx, alloc, node, name, *net, *dhcp)?;
    }
    if let Some(old) = old.filter(|o| *o != new) {
        for (name, _, _) in group_ifaces(tx, old)? {
            if !new_ifaces.iter().any(|(n, _, _)| *n == name) {
                tx.execute(
                    "DELETE FROM nodeinterface WHERE nodeid = ?1 AND interface = ?2",
                    params![node, name],
                )?;
            }
        }
    }
    Ok(())
}

/// Copies a node's interfaces to a clone: same networks, fresh addresses, no MACs.
pub fn clone_node_ifaces(
    tx: &Transaction,
    alloc: &mut Allocator,
    src: i64,
    dst: i64,
) -> Result<(), Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT ni.interface, ni.mtu, ni.vlanid, ni.vlan_parent, ni.bond_mode, ni.bond_slaves, ni.options, a.networkid, a.dhcp
         FROM nodeinterface ni LEFT JOIN ipaddress a ON a.nodeinterfaceid = ni.id WHERE ni.nodeid = ?1 ORDER BY ni.id",
    )?;
    type Src = (
        String,
        Sql,
        Sql,
        Sql,
        Sql,
        Sql,
        Sql,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Src> = stmt
        .query_map([src], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    for (name, mtu, vlanid, vlan_parent, bond_mode, bond_slaves, options, net, dhcp) in rows {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO nodeinterface (nodeid, interface, mtu, vlanid, vlan_parent, bond_mode, bond_slaves, options)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![dst, name, mtu, vlanid, vlan_parent, bond_mode, bond_slaves, options])?;
        if let Some(net) = net {
            let iface = node_iface_id(tx, dst, &name)?.unwrap_or_default();
            tx.execute("DELETE FROM ipaddress WHERE nodeinterfaceid = ?1", [iface])?;
            assign(
                tx,
                alloc,
                iface,
                net,
                Want::Auto,
                dhcp.map(|d| d != 0),
                false,
            )?;
        }
    }
    Ok(())
}

/// Applies a group's `interfaces` list and carries each change to member nodes.
pub fn apply_group_entries(
    tx: &Transaction,
    alloc: &mut Allocator,
    group: i64,
    entries: &Value,
) -> Result<(), Error> {
    for obj in entry_objects(entries, GROUP_KEYS)? {
        let name = obj
            .get("interface")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let cols = iface_columns(tx, obj)?;
        let dhcp = bool_value(obj, "dhcp")?;
        let existing: Option<(i64, Option<i64>)> = tx
            .prepare_cached(
                "SELECT id, networkid FROM groupinterface WHERE groupid = ?1 AND interface = ?2",
            )?
            .query_row(params![group, name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let net = match obj.get("network") {
            Some(v) if !empty(Some(v)) => Some(network_by_name(
                tx,
                v.as_str()
                    .ok_or_else(|| Error::invalid("network must be a string"))?,
            )?),
            _ => None,
        };
        let (id, changed) = match existing {
            Some((id, old_net)) => (id, net.is_some() && net != old_net),
            None => {
                let net = net.ok_or_else(|| {
                    Error::invalid(format!(
                        "network is required for new group interface {name}"
                    ))
                })?;
                tx.prepare_cached("INSERT INTO groupinterface (groupid, interface, networkid) VALUES (?1, ?2, ?3)")?
                    .execute(params![group, name, net])?;
                (tx.last_insert_rowid(), true)
            }
        };
        write_columns(tx, "groupinterface", id, &cols)?;
        if let Some(net) = net {
            tx.execute(
                "UPDATE groupinterface SET networkid = ?2 WHERE id = ?1",
                params![id, net],
            )?;
        }
        if let Some(d) = dhcp {
            tx.execute(
                "UPDATE groupinterface SET dhcp = ?2 WHERE id = ?1",
                params![id, d as i64],
            )?;
        }
        let mut current_name = name.to_string();
        if let Some(new_name) = obj.get("newinterfacename") {
            let new_name = new_name
                .as_str()
                .ok_or_else(|| Error::invalid("newinterfacename must be a string"))?;
            validate_iface_name(new_name)?;
            let clash: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM groupinterface WHERE groupid = ?1 AND interface = ?2)",
                params![group, new_name],
                |r| r.get(0),
            )?;
            if clash {
                return Err(Error::invalid(format!(
                    "interface {new_name} already exists"
                )));
            }
            tx.execute(
                "UPDATE groupinterface SET interface = ?2 WHERE id = ?1",
                params![id, new_name],
            )?;
            tx.execute(
                "UPDATE OR IGNORE nodeinterface SET interface = ?2
                 WHERE interface = ?3 AND nodeid IN (SELECT id FROM node WHERE groupid = ?1)",
                params![group, new_name, name],
            )?;
            current_name = new_name.to_string();
        }
        if changed {
            let net: Option<i64> = tx.query_row(
                "SELECT networkid FROM groupinterface WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?;
            let members: Vec<i64> = tx
                .prepare_cached("SELECT id FROM node WHERE groupid = ?1 ORDER BY name")?
                .query_map([group], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for member in members {
                ensure_node_iface(tx, alloc, member, &current_name, net, dhcp)?;
            }
        }
    }
    Ok(())
}

/// Interfaces of one node or all nodes, keyed by node id, as the API shows them.
pub fn node_interfaces_json(
    tx: &Transaction,
    node: Option<i64>,
) -> Result<HashMap<i64, Vec<Value>>, Error> {
    node_interfaces_select(tx, node.map(Select::One).unwrap_or(Select::All))
}

/// Interfaces of the nodes a `Select` (by node name) picks, keyed by node id.
pub fn node_interfaces_select(
    tx: &Transaction,
    nodes: Select,
) -> Result<HashMap<i64, Vec<Value>>, Error> {
    let filter = match nodes {
        Select::All => "",
        Select::One(_) => "WHERE ni.nodeid = ?1",
        Select::After(..) => {
            "WHERE ni.nodeid IN (SELECT id FROM node WHERE name > ?1 ORDER BY name LIMIT ?2)"
        }
    };
    let sql = format!(
        "SELECT ni.nodeid, ni.interface, ni.macaddress, a.ipaddress, a.ipaddress_ipv6, n.name, a.dhcp,
                ni.mtu, ni.vlanid, ni.vlan_parent, ni.bond_mode, ni.bond_slaves, ni.options
         FROM nodeinterface ni LEFT JOIN ipaddress a ON a.nodeinterfaceid = ni.id
         LEFT JOIN network n ON n.id = a.networkid {filter} ORDER BY ni.nodeid, ni.id"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut out: HashMap<i64, Vec<Value>> = HashMap::new();
    let map = |r: &rusqlite::Row| -> rusqlite::Result<(i64, Value)> {
        let mut obj = Map::new();
        obj.insert("interface".into(), Value::String(r.get(1)?));
        obj.insert("macaddress".into(), to_json(Kind::Text, &r.get(2)?));
        // Always present, null when unset: the luna CLI reads these columns.
        for (idx, key) in [(3, "ipaddress"), (4, "ipaddress_ipv6"), (5, "network")] {
            obj.insert(key.into(), to_json(Kind::Text, &r.get(idx)?));
        }
        obj.insert(
            "dhcp".into(),
            Value::Bool(r.get::<_, Option<i64>>(6)?.unwrap_or(0) != 0),
        );
        for (idx, f) in IFACE_FIELDS.iter().enumerate() {
            let v: Sql = r.get(7 + idx)?;
            if v != Sql::Null {
                obj.insert(f.name.into(), to_json(f.kind, &v));
            }
        }
        Ok((r.get(0)?, Value::Object(obj)))
    };
    let rows = match nodes {
        Select::All => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
        Select::One(id) => stmt.query_map([id], map)?.collect::<Result<Vec<_>, _>>()?,
        Select::After(after, limit) => stmt
            .query_map(rusqlite::params![after, limit], map)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    for (id, v) in rows {
        out.entry(id).or_default().push(v);
    }
    Ok(out)
}

/// Interfaces of one group or all groups, keyed by group id.
pub fn group_interfaces_json(
    tx: &Transaction,
    group: Option<i64>,
) -> Result<HashMap<i64, Vec<Value>>, Error> {
    let filter = if group.is_some() {
        "WHERE gi.groupid = ?1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT gi.groupid, gi.interface, n.name, gi.dhcp, gi.mtu, gi.vlanid, gi.vlan_parent, gi.bond_mode, gi.bond_slaves, gi.options
         FROM groupinterface gi LEFT JOIN network n ON n.id = gi.networkid {filter} ORDER BY gi.groupid, gi.id"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row| -> rusqlite::Result<(i64, Value)> {
        let mut obj = Map::new();
        obj.insert("interface".into(), Value::String(r.get(1)?));
        obj.insert("network".into(), to_json(Kind::Text, &r.get(2)?));
        if r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0 {
            obj.insert("dhcp".into(), Value::Bool(true));
        }
        for (idx, f) in IFACE_FIELDS.iter().enumerate() {
            let v: Sql = r.get(4 + idx)?;
            if v != Sql::Null {
                obj.insert(f.name.into(), to_json(f.kind, &v));
            }
        }
        Ok((r.get(0)?, Value::Object(obj)))
    };
    let rows = match group {
        Some(id) => stmt.query_map([id], map)?.collect::<Result<Vec<_>, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
    };
    let mut out: HashMap<i64, Vec<Value>> = HashMap::new();
    for (id, v) in rows {
        out.entry(id).or_default().push(v);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The interface routes, for nodes and groups alike.

/// Which owner the interface routes are about.
type IfaceLister = fn(&Transaction, Option<i64>) -> Result<HashMap<i64, Vec<Value>>, Error>;

pub struct Owner {
    pub res: &'static resource::Resource,
    list: IfaceLister,
    table: &'static str,
    owner_column: &'static str,
}

/// An object's interfaces as the API shows them; only `only` when given
/// (NotFound when it has no such interface).
pub fn interfaces(
    store: &Store,
    owner: &Owner,
    name: &str,
    only: Option<&str>,
) -> Result<Vec<Value>, Error> {
    let id = resource::require_id(store.tx, owner.res, name)?;
    let all = (owner.list)(store.tx, Some(id))?
        .remove(&id)
        .unwrap_or_default();
    let Some(iface) = only else {
        return Ok(all);
    };
    let found: Vec<Value> = all
        .into_iter()
        .filter(|v| v.get("interface").and_then(Value::as_str) == Some(iface))
        .collect();
    if found.is_empty() {
        return Err(Error::not_found(format!(
            "{} '{name}' has no interface '{iface}'",
            owner.res.kind
        )));
    }
    Ok(found)
}

/// Removes one interface; a group's goes from its member nodes too.
pub fn remove_interface(
    store: &Store,
    owner: &Owner,
    name: &str,
    iface: &str,
) -> Result<(), Error> {
    let id = resource::require_id(store.tx, owner.res, name)?;
    let removed = store.tx.execute(
        &format!(
            "DELETE FROM {} WHERE {} = ?1 AND interface = ?2",
            owner.table, owner.owner_column
        ),
        rusqlite::params![id, iface],
    )?;
    if removed == 0 {
        return Err(Error::not_found(format!(
            "{} '{name}' has no interface '{iface}'",
            owner.res.kind
        )));
    }
    if owner.table == "groupinterface" {
        store.tx.execute(
            "DELETE FROM nodeinterface WHERE interface = ?2 AND nodeid IN (SELECT id FROM node WHERE groupid = ?1)",
            rusqlite::params![id, iface],
        )?;
    }
    Ok(())
}

/// Adds or changes the interfaces in `entries` (a JSON list) of object `id`;
/// answers whether an interface was added.
pub fn set_interfaces(
    store: &Store,
    owner: &Owner,
    id: i64,
    entries: &Value,
) -> Result<bool, Error> {
    let count = || -> Result<i64, Error> {
        Ok(store.tx.query_row(
            &format!(
                "SELECT COUNT(*) FROM {} WHERE {} = ?1",
                owner.table, owner.owner_column
            ),
            [id],
            |r| r.get(0),
        )?)
    };
    let before = count()?;
    let mut alloc = Allocator::default();
    if owner.table == "groupinterface" {
        apply_group_entries(store.tx, &mut alloc, id, entries)?;
    } else {
        apply_node_entries(store.tx, &mut alloc, id, entries)?;
    }
    Ok(count()? > before)
}

pub const NODE_OWNER: Owner = Owner {
    res: &node::NODE,
    list: node_interfaces_json,
    table: "nodeinterface",
    owner_column: "nodeid",
};
pub const GROUP_OWNER: Owner = Owner {
    res: &group::GROUP,
    list: group_interfaces_json,
    table: "groupinterface",
    owner_column: "groupid",
};
