//! Extra DNS records per network: hosts that are not nodes or devices
//! (a mirror, a license server) but belong in the network's zone.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::resource::{lookup_id, parse_ip};
use super::{Error, Store};

fn network_id(store: &Store, name: &str) -> Result<i64, Error> {
    lookup_id(store.tx, "network", name)?
        .ok_or_else(|| Error::not_found(format!("network '{name}' not found")))
}

/// DNS labels: letters, digits and `-`, dot-separated, at most 253 characters.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A network's extra records as `[{host, ipaddress}]`, by host.
pub fn records(store: &Store, name: &str) -> Result<Vec<Value>, Error> {
    let id = network_id(store, name)?;
    let entries: Vec<Value> = store
        .tx
        .prepare_cached("SELECT host, ipaddress FROM dns WHERE networkid = ?1 ORDER BY host")?
        .query_map([id], |r| {
            Ok(json!({ "host": r.get::<_, String>(0)?, "ipaddress": r.get::<_, String>(1)? }))
        })?
        .collect::<Result<_, _>>()?;
    if entries.is_empty() {
        return Err(Error::not_found(format!(
            "network '{name}' has no extra DNS entries"
        )));
    }
    Ok(entries)
}

/// Adds or changes `[{host, ipaddress}]`; every address must lie in the network.
pub fn upsert(store: &Store, name: &str, entries: &[Value]) -> Result<(), Error> {
    let id = network_id(store, name)?;
    if entries.is_empty() {
        return Err(Error::invalid("no DNS entries given"));
    }
    let (cidr, cidr6): (String, Option<String>) = store.tx.query_row(
        "SELECT network, network_ipv6 FROM network WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for entry in entries {
        let obj = entry
            .as_object()
            .ok_or_else(|| Error::invalid("each DNS entry must be an object"))?;
        if let Some(k) = obj.keys().find(|k| *k != "host" && *k != "ipaddress") {
            return Err(Error::invalid(format!(
                "unknown field '{k}' in a DNS entry"
            )));
        }
        let host = obj
            .get("host")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid("each DNS entry needs a host"))?;
        if !valid_host(host) {
            return Err(Error::invalid(format!("invalid DNS host name '{host}'")));
        }
        let ip = obj
            .get("ipaddress")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid(format!("DNS entry {host} needs an ipaddress")))?;
        let ip = parse_ip("ipaddress", ip)?;
        let inside = match ip {
            std::net::IpAddr::V4(_) => cidr.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&ip)),
            std::net::IpAddr::V6(_) => cidr6
                .as_deref()
                .and_then(|c| c.parse::<ipnet::IpNet>().ok())
                .is_some_and(|n| n.contains(&ip)),
        };
        if !inside {
            return Err(Error::invalid(format!(
                "ipaddress {ip} of {host} is not inside network '{name}'"
            )));
        }
        store
            .tx
            .prepare_cached(
                "INSERT INTO dns (networkid, host, ipaddress) VALUES (?1, ?2, ?3)
                 ON CONFLICT(networkid, host) DO UPDATE SET ipaddress = excluded.ipaddress",
            )?
            .execute(params![id, host, ip.to_string()])?;
    }
    Ok(())
}

/// Removes one host's record.
pub fn delete(store: &Store, name: &str, host: &str) -> Result<(), Error> {
    let id = network_id(store, name)?;
    let found: Option<i64> = store
        .tx
        .query_row(
            "SELECT id FROM dns WHERE networkid = ?1 AND host = ?2",
            params![id, host],
            |r| r.get(0),
        )
        .optional()?;
    let row = found
        .ok_or_else(|| Error::not_found(format!("network '{name}' has no DNS entry '{host}'")))?;
    store.tx.execute("DELETE FROM dns WHERE id = ?1", [row])?;
    Ok(())
}
