//! Switches and other devices (PDUs, UPSes): name-keyed objects that may hold
//! one address in a network, which IPAM then treats as taken.
//!
//! A body's `network` and `ipaddress` place the device: both given, the address
//! is checked against the network and other holders; only `network`, the next
//! free address is taken (or the current one kept); only `ipaddress`, the
//! network containing it is found. `ipaddress: ""` removes the address.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use super::ipam::{ipv4_num, Pool};
use super::json::Objects;
use super::network::{DEVICE, DEVICE_JOINS};
use super::resource::{
    aliased, fetch_rows, field, lookup_id, row_json, set_defaults, unique, Hooks, Kind, Resource,
};
use super::{Error, Store};

pub static SWITCH: Resource = Resource {
    kind: "switch",
    table: "switch",
    label: "Switch",
    rename: &["newswitchname"],
    fields: &[
        unique("macaddress", Kind::Mac),
        field("oid", Kind::Text),
        aliased("read", "readcommunity", Kind::Text),
        aliased("rw", "writecommunity", Kind::Text),
        field("uplinkports", Kind::Text),
        field("vendor", Kind::Text),
        aliased("comment", "comments", Kind::Text),
    ],
    extra: &["network", "ipaddress"],
    member: Some("SELECT name FROM node WHERE switchid = ?1 ORDER BY name"),
    users: Some("SELECT name FROM node WHERE switchid = ?1 ORDER BY name LIMIT 11"),
    hooks: &DeviceHooks {
        owner: "switchid",
        defaults: SWITCH_DEFAULTS,
    },
};

/// Upstream's defaults for a new switch: the Q-BRIDGE MIB forwarding table and
/// the usual communities.
const SWITCH_DEFAULTS: &[(&str, &str)] = &[
    ("oid", ".1.3.6.1.2.1.17.7.1.2.2.1.2"),
    ("read", "public"),
    ("rw", "trusted"),
];

pub static OTHERDEV: Resource = Resource {
    kind: "otherdev",
    table: "otherdevices",
    label: "Device",
    rename: &["newotherdevname", "newotherdevicename"],
    fields: &[
        unique("macaddress", Kind::Mac),
        field("vendor", Kind::Text),
        aliased("comment", "comments", Kind::Text),
    ],
    extra: &["network", "ipaddress"],
    member: None,
    users: None,
    hooks: &DeviceHooks {
        owner: "otherdevicesid",
        defaults: &[],
    },
};

struct DeviceHooks {
    /// The `ipaddress` column naming this kind of owner.
    owner: &'static str,
    defaults: &'static [(&'static str, &'static str)],
}

fn blank(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Null)) || v.and_then(Value::as_str) == Some("")
}

impl DeviceHooks {
    fn current(&self, tx: &Transaction, id: i64) -> Result<Option<(i64, Option<String>)>, Error> {
        Ok(tx
            .prepare_cached(&format!(
                "SELECT networkid, ipaddress FROM ipaddress WHERE {} = ?1",
                self.owner
            ))?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Puts device `id` at `ip` in network `net` (the next free address when `ip` is None).
    fn place(
        &self,
        tx: &Transaction,
        id: i64,
        net: i64,
        ip: Option<Ipv4Addr>,
    ) -> Result<(), Error> {
        let (net_name, cidr): (String, String) = tx.query_row(
            "SELECT name, network FROM network WHERE id = ?1",
            [net],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let v4: Ipv4Net = cidr
            .parse()
            .map_err(|_| Error::invalid(format!("network '{net_name}' has no IPv4 range")))?;
        let ip = match ip {
            Some(ip) => {
                if !v4.contains(&ip)
                    || (v4.prefix_len() < 31 && (ip == v4.network() || ip == v4.broadcast()))
                {
                    return Err(Error::invalid(format!(
                        "ipaddress {ip} is not a host address of network '{net_name}' ({v4})"
                    )));
                }
                let holder: Option<String> = tx
                    .prepare_cached(&format!(
                        "SELECT {DEVICE} FROM ipaddress a {DEVICE_JOINS} WHERE a.ipaddress = ?1 AND a.{} IS NOT ?2",
                        self.owner
                    ))?
                    .query_row(params![ip.to_string(), id], |r| r.get(0))
                    .optional()?;
                if let Some(holder) = holder {
                    return Err(Error::invalid(format!(
                        "ipaddress {ip} is already in use by {holder}"
                    )));
                }
                ip
            }
            None => match self.current(tx, id)? {
                Some((cur_net, Some(cur))) if cur_net == net => cur
                    .parse()
                    .map_err(|_| Error::Internal("bad stored address".into()))?,
                _ => {
                    let mut pool = Pool::load(tx, net)?.ok_or_else(|| {
                        Error::invalid(format!("network '{net_name}' has no IPv4 range"))
                    })?;
                    pool.allocate(tx)?.ok_or_else(|| {
                        Error::invalid(format!("network '{net_name}' has no free address left"))
                    })?
                }
            },
        };
        let text = ip.to_string();
        tx.execute(
            &format!("DELETE FROM ipaddress WHERE {} = ?1", self.owner),
            [id],
        )?;
        tx.execute(
            &format!(
                "INSERT INTO ipaddress (networkid, ipaddress, ipnum, {}) VALUES (?1, ?2, ?3, ?4)",
                self.owner
            ),
            params![net, text, ipv4_num(&text), id],
        )?;
        Ok(())
    }
}

fn parse_v4(v: &Value) -> Result<Ipv4Addr, Error> {
    let s = v
        .as_str()
        .ok_or_else(|| Error::invalid("ipaddress must be a string"))?;
    s.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid ipaddress '{s}': an IPv4 address is expected"
        ))
    })
}

impl Hooks for DeviceHooks {
    fn before_write(
        &self,
        _store: &Store,
        _name: &str,
        id: Option<i64>,
        _obj: &Map<String, Value>,
        cols: &mut super::resource::Columns,
    ) -> Result<(), Error> {
        if id.is_none() {
            let defaults = self
                .defaults
                .iter()
                .map(|(n, v)| (*n, rusqlite::types::Value::Text(v.to_string())));
            set_defaults(SWITCH.fields, cols, defaults);
        }
        Ok(())
    }

    fn after_write(
        &self,
        store: &Store,
        id: i64,
        obj: &Map<String, Value>,
        _created: bool,
    ) -> Result<(), Error> {
        let tx = store.tx;
        let (net, ip) = (obj.get("network"), obj.get("ipaddress"));
        if blank(ip) || blank(net) {
            tx.execute(
                &format!("DELETE FROM ipaddress WHERE {} = ?1", self.owner),
                [id],
            )?;
            return Ok(());
        }
        let ip = ip.map(parse_v4).transpose()?;
        let net =
            match net {
                Some(v) => {
                    let name = v
                        .as_str()
                        .ok_or_else(|| Error::invalid("network must be a string"))?;
                    Some(lookup_id(tx, "network", name)?.ok_or_else(|| {
                        Error::invalid(format!("network '{name}' does not exist"))
                    })?)
                }
                None => None,
            };
        match (net, ip) {
            (Some(net), ip) => self.place(tx, id, net, ip),
            (None, Some(ip)) => {
                let net = match self.current(tx, id)? {
                    Some((cur, _)) => {
                        let cidr: String = tx.query_row(
                            "SELECT network FROM network WHERE id = ?1",
                            [cur],
                            |r| r.get(0),
                        )?;
                        if cidr.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&ip)) {
                            cur
                        } else {
                            super::ipam::network_containing(tx, ip)?
                        }
                    }
                    None => super::ipam::network_containing(tx, ip)?,
                };
                self.place(tx, id, net, Some(ip))
            }
            (None, None) => Ok(()),
        }
    }

    fn after_clone(
        &self,
        store: &Store,
        src: i64,
        dst: i64,
        obj: &Map<String, Value>,
    ) -> Result<(), Error> {
        // The copy goes in the same network at the next free address.
        if !obj.contains_key("network") && !obj.contains_key("ipaddress") {
            if let Some((net, _)) = self.current(store.tx, src)? {
                self.place(store.tx, dst, net, None)?;
            }
            return Ok(());
        }
        self.after_write(store, dst, obj, true)
    }

    fn render(
        &self,
        store: &Store,
        res: &Resource,
        id: Option<i64>,
        out: &mut Objects,
    ) -> Result<(), Error> {
        let mut stmt = store.tx.prepare_cached(&format!(
            "SELECT a.{}, n.name, a.ipaddress FROM ipaddress a JOIN network n ON n.id = a.networkid WHERE a.{} IS NOT NULL",
            self.owner, self.owner
        ))?;
        let addresses: std::collections::HashMap<i64, (String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
            .collect::<Result<_, _>>()?;
        for row in fetch_rows(store.tx, res, id)? {
            let mut obj = row_json(res, &row);
            let (net, ip) = addresses.get(&row.id).cloned().unwrap_or_default();
            obj.insert(
                "network".into(),
                if net.is_empty() {
                    Value::Null
                } else {
                    Value::String(net)
                },
            );
            obj.insert(
                "ipaddress".into(),
                ip.map(Value::String).unwrap_or(Value::Null),
            );
            out.push(&row.name, &obj);
        }
        Ok(())
    }
}
