//! Networks: the shared resource shape plus IPAM checks, members, next free IP
//! and the status of one address.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use rusqlite::types::Value as Sql;
use serde_json::{json, Map, Value};

use super::resource::{self, fetch_rows, field, Columns, Field, Hooks, Kind, Resource, Row};
use super::{Error, Store};

pub static NETWORK: Resource = Resource {
    kind: "network",
    table: "network",
    label: "Network",
    rename: &["newnetname"],
    fields: FIELDS,
    extra: &[],
    member: None,
    users: Some(NETWORK_USERS),
    hooks: &NetworkHooks,
};

static FIELDS: &[Field] = &[
    field("network", Kind::Cidr),
    field("network_ipv6", Kind::Cidr),
    field("gateway", Kind::Ip),
    field("gateway_ipv6", Kind::Ip),
    field("gateway_metric", Kind::Int { min: 0, max: 65535 }),
    field("nameserver_ip", Kind::Ip),
    field("nameserver_ip_ipv6", Kind::Ip),
    field("ntp_server", Kind::Ip),
    field("dhcp", Kind::Bool),
    field("dhcp_range_begin", Kind::Ip),
    field("dhcp_range_end", Kind::Ip),
    field("dhcp_range_begin_ipv6", Kind::Ip),
    field("dhcp_range_end_ipv6", Kind::Ip),
    field("dhcp_nodes_in_pool", Kind::Bool),
    field("zone", Kind::Choice(&["internal", "external"])),
    field("shared", Kind::Text),
    field("type", Kind::Choice(&["ethernet", "infiniband"])),
    field("comment", Kind::Text),
];

struct NetworkHooks;

/// The state of a network after a write: stored values overlaid with the new ones.
fn merged(
    store: &Store,
    id: Option<i64>,
    cols: &Columns,
) -> Result<HashMap<&'static str, Sql>, Error> {
    let mut state: HashMap<&'static str, Sql> = HashMap::new();
    if let Some(id) = id {
        if let Some(row) = fetch_rows(store.tx, &NETWORK, Some(id))?.into_iter().next() {
            for (f, v) in FIELDS.iter().zip(row.values) {
                state.insert(f.name, v);
            }
        }
    }
    for (f, v) in cols {
        state.insert(f.name, v.clone());
    }
    Ok(state)
}

fn text<'a>(state: &'a HashMap<&'static str, Sql>, key: &str) -> Option<&'a str> {
    match state.get(key) {
        Some(Sql::Text(s)) => Some(s),
        _ => None,
    }
}

impl Hooks for NetworkHooks {
    fn before_write(
        &self,
        store: &Store,
        _name: &str,
        id: Option<i64>,
        _obj: &Map<String, Value>,
        cols: &mut Columns,
    ) -> Result<(), Error> {
        let state = merged(store, id, cols)?;
        let cidr = text(&state, "network").ok_or_else(|| {
            Error::invalid(
                "network is required: the IPv4 network in CIDR notation, like 10.141.0.0/16",
            )
        })?;
        let net: Ipv4Net = cidr.parse().map_err(|_| {
            Error::invalid(format!(
                "invalid network '{cidr}': an IPv4 network in CIDR notation is expected"
            ))
        })?;
        let net6 = match text(&state, "network_ipv6") {
            Some(s) => match s.parse::<IpNet>() {
                Ok(IpNet::V6(n)) => Some(n),
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid network_ipv6 '{s}': an IPv6 network is expected"
                    )))
                }
            },
            None => None,
        };
        for key in [
            "gateway",
            "nameserver_ip",
            "ntp_server",
            "dhcp_range_begin",
            "dhcp_range_end",
        ] {
            if let Some(s) = text(&state, key) {
                super::value::ipv4_in(key, s, &net)?;
            }
        }
        for key in [
            "gateway_ipv6",
            "nameserver_ip_ipv6",
            "dhcp_range_begin_ipv6",
            "dhcp_range_end_ipv6",
        ] {
            if let Some(s) = text(&state, key) {
                super::value::ipv6_in(key, s, net6.as_ref())?;
            }
        }
        if matches!(state.get("dhcp"), Some(Sql::Integer(1))) {
            let begin = text(&state, "dhcp_range_begin").ok_or_else(|| {
                Error::invalid("dhcp_range_begin is required when dhcp is enabled")
            })?;
            let end = text(&state, "dhcp_range_end")
                .ok_or_else(|| Error::invalid("dhcp_range_end is required when dhcp is enabled"))?;
            let (b, e): (Ipv4Addr, Ipv4Addr) = (
                begin.parse().unwrap_or(net.network()),
                end.parse().unwrap_or(net.network()),
            );
            if b > e {
                return Err(Error::invalid(format!(
                    "dhcp_range_begin {b} is after dhcp_range_end {e}"
                )));
            }
            if let Some(id) = id {
                let holder: Option<(String, String)> = {
                    let mut stmt = store.tx.prepare_cached(&format!(
                        "SELECT a.ipaddress, {DEVICE} FROM ipaddress a {DEVICE_JOINS}
                         WHERE a.networkid = ?1 AND a.ipnum BETWEEN ?2 AND ?3 ORDER BY a.ipnum LIMIT 1"
                    ))?;
                    let mut rows = stmt.query(rusqlite::params![id, u32::from(b), u32::from(e)])?;
                    match rows.next()? {
                        Some(r) => Some((r.get(0)?, r.get(1)?)),
                        None => None,
                    }
                };
                if let Some((ip, device)) = holder {
                    return Err(Error::invalid(format!(
                        "DHCP range {b}-{e} contains {ip}, which is assigned to {device}"
                    )));
                }
            }
        }
        // Networks may not overlap: an address must belong to one network.
        let mut stmt = store
            .tx
            .prepare_cached("SELECT name, network FROM network WHERE id != ?1")?;
        let others = stmt.query_map([id.unwrap_or(-1)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for other in others {
            let (name, other_cidr) = other?;
            if let Ok(o) = other_cidr.parse::<Ipv4Net>() {
                if o.contains(&net.network()) || net.contains(&o.network()) {
                    return Err(Error::invalid(format!(
                        "network {net} overlaps network '{name}' ({o})"
                    )));
                }
            }
        }
        // Renumbering is explicit: a new range must still hold every address in use.
        if let Some(id) = id {
            let mut stmt = store.tx.prepare_cached(&format!(
                "SELECT a.ipaddress, {DEVICE} FROM ipaddress a {DEVICE_JOINS}
                 WHERE a.networkid = ?1 AND a.ipnum IS NOT NULL AND (a.ipnum < ?2 OR a.ipnum > ?3) LIMIT 1"
            ))?;
            let mut rows = stmt.query(rusqlite::params![
                id,
                u32::from(net.network()),
                u32::from(net.broadcast())
            ])?;
            if let Some(r) = rows.next()? {
                let (ip, device): (String, String) = (r.get(0)?, r.get(1)?);
                return Err(Error::invalid(format!(
                    "network {net} does not contain {ip} of {device}; move that address first"
                )));
            }
        }
        if id.is_none() {
            let metric = if text(&state, "zone") == Some("external") {
                100
            } else {
                101
            };
            resource::set_defaults(
                FIELDS,
                cols,
                [
                    ("zone", Sql::Text("internal".into())),
                    ("type", Sql::Text("ethernet".into())),
                    ("dhcp", Sql::Integer(0)),
                    ("dhcp_nodes_in_pool", Sql::Integer(0)),
                    ("gateway_metric", Sql::Integer(metric)),
                ],
            );
        }
        Ok(())
    }

    /// DHCP details only while DHCP is on.
    fn decorate(
        &self,
        _store: &Store,
        _row: &Row,
        obj: &mut Map<String, Value>,
    ) -> Result<(), Error> {
        if obj.get("dhcp") != Some(&Value::Bool(true)) {
            for key in [
                "dhcp_range_begin",
                "dhcp_range_end",
                "dhcp_range_begin_ipv6",
                "dhcp_range_end_ipv6",
                "dhcp_nodes_in_pool",
            ] {
                obj.remove(key);
            }
        }
        Ok(())
    }
}

/// SQL naming the holder of an `ipaddress a` row, with the joins it needs.
macro_rules! device_sql {
    () => {
        "COALESCE(dn.name, dc.name, ds.name, dd.name, '?')"
    };
}
macro_rules! device_joins_sql {
    () => {
        "LEFT JOIN nodeinterface dni ON dni.id = a.nodeinterfaceid
     LEFT JOIN node dn ON dn.id = dni.nodeid
     LEFT JOIN controller dc ON dc.id = a.controllerid
     LEFT JOIN switch ds ON ds.id = a.switchid
     LEFT JOIN otherdevices dd ON dd.id = a.otherdevicesid"
    };
}
pub const DEVICE: &str = device_sql!();
pub const DEVICE_JOINS: &str = device_joins_sql!();

/// What keeps a network from being deleted: addresses in it, and group
/// interfaces on it.
const NETWORK_USERS: &str = concat!(
    "SELECT ",
    device_sql!(),
    " FROM ipaddress a ",
    device_joins_sql!(),
    " WHERE a.networkid = ?1
     UNION ALL SELECT 'group ' || g.name || ' interface ' || gi.interface FROM groupinterface gi
     JOIN \"group\" g ON g.id = gi.groupid WHERE gi.networkid = ?1 LIMIT 11"
);

pub fn network_id(store: &Store, name: &str) -> Result<i64, Error> {
    resource::require_id(store.tx, &NETWORK, name)
}

/// The addresses taken in network `id`, in address order, with their holders.
pub fn taken(store: &Store, id: i64) -> Result<Vec<Value>, Error> {
    let mut stmt = store.tx.prepare_cached(&format!(
        "SELECT a.ipaddress, {DEVICE}, dni.interface FROM ipaddress a {DEVICE_JOINS}
         WHERE a.networkid = ?1 AND a.ipaddress IS NOT NULL ORDER BY a.ipnum"
    ))?;
    let taken: Vec<Value> = stmt
        .query_map([id], |r| {
            let mut entry =
                json!({ "ipaddress": r.get::<_, String>(0)?, "device": r.get::<_, String>(1)? });
            if let Some(iface) = r.get::<_, Option<String>>(2)? {
                entry["interface"] = Value::String(iface);
            }
            Ok(entry)
        })?
        .collect::<Result<_, _>>()?;
    Ok(taken)
}
