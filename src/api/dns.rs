//! Extra DNS records per network: hosts that are not nodes or devices
//! (a mirror, a license server) but belong in the network's zone.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::resource::{lookup_id, parse_ip};

fn network(ctx: &Ctx) -> Result<(String, i64), ApiError> {
    let name = ctx.param(0).to_string();
    let id = lookup_id(ctx.tx, "network", &name)?
        .ok_or_else(|| ApiError::not_found(format!("network '{name}' not found")))?;
    Ok((name, id))
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

/// `GET /config/dns/{network}`
pub fn list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = network(ctx)?;
    let entries: Vec<Value> = ctx
        .tx
        .prepare_cached("SELECT host, ipaddress FROM dns WHERE networkid = ?1 ORDER BY host")?
        .query_map([id], |r| {
            Ok(json!({ "host": r.get::<_, String>(0)?, "ipaddress": r.get::<_, String>(1)? }))
        })?
        .collect::<Result<_, _>>()?;
    if entries.is_empty() {
        return Err(ApiError::not_found(format!(
            "network '{name}' has no extra DNS entries"
        )));
    }
    Reply::ok(json!({ "config": { "dns": { name: entries } } }))
}

/// `POST /config/dns/{network}`: upserts `[{host, ipaddress}]`.
pub fn update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = network(ctx)?;
    let entries = ctx
        .config_section("dns")?
        .get(&name)
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad(format!("expected a list at 'config.dns.{name}'")))?
        .clone();
    if entries.is_empty() {
        return Err(ApiError::bad("no DNS entries given"));
    }
    let (cidr, cidr6): (String, Option<String>) = ctx.tx.query_row(
        "SELECT network, network_ipv6 FROM network WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for entry in &entries {
        let obj = entry
            .as_object()
            .ok_or_else(|| ApiError::bad("each DNS entry must be an object"))?;
        if let Some(k) = obj.keys().find(|k| *k != "host" && *k != "ipaddress") {
            return Err(ApiError::bad(format!("unknown field '{k}' in a DNS entry")));
        }
        let host = obj
            .get("host")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad("each DNS entry needs a host"))?;
        if !valid_host(host) {
            return Err(ApiError::bad(format!("invalid DNS host name '{host}'")));
        }
        let ip = obj
            .get("ipaddress")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad(format!("DNS entry {host} needs an ipaddress")))?;
        let ip = parse_ip("ipaddress", ip)?;
        let inside = match ip {
            std::net::IpAddr::V4(_) => cidr.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&ip)),
            std::net::IpAddr::V6(_) => cidr6
                .as_deref()
                .and_then(|c| c.parse::<ipnet::IpNet>().ok())
                .is_some_and(|n| n.contains(&ip)),
        };
        if !inside {
            return Err(ApiError::bad(format!(
                "ipaddress {ip} of {host} is not inside network '{name}'"
            )));
        }
        ctx.tx
            .prepare_cached(
                "INSERT INTO dns (networkid, host, ipaddress) VALUES (?1, ?2, ?3)
                 ON CONFLICT(networkid, host) DO UPDATE SET ipaddress = excluded.ipaddress",
            )?
            .execute(params![id, host, ip.to_string()])?;
    }
    Reply::created("DNS entries added or changed")
}

/// `GET /config/dns/{network}/{host}/_delete`
pub fn delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (name, id) = network(ctx)?;
    let host = ctx.param(1).to_string();
    let found: Option<i64> = ctx
        .tx
        .query_row(
            "SELECT id FROM dns WHERE networkid = ?1 AND host = ?2",
            params![id, host],
            |r| r.get(0),
        )
        .optional()?;
    let row = found.ok_or_else(|| {
        ApiError::not_found(format!("network '{name}' has no DNS entry '{host}'"))
    })?;
    ctx.tx.execute("DELETE FROM dns WHERE id = ?1", [row])?;
    Reply::updated()
}
