//! Network handlers: members, the next free IP and IP status; the model is `cmdb::network`.

use std::net::Ipv4Addr;

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::cmdb::ipam::Pool;
use crate::cmdb::network::{network_id, taken};

/// `GET /config/network/{name}/_member`
pub fn members(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = network_id(ctx, &name)?;
    let taken = taken(ctx, id)?;
    Reply::ok(json!({ "config": { "network": { name: { "taken": taken } } } }))
}

/// `GET /config/network/{name}/_nextfreeip`. No reservation is made.
pub fn next_free_ip(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let id = network_id(ctx, &name)?;
    let mut pool = Pool::load(ctx.tx, id)?
        .ok_or_else(|| ApiError::not_found(format!("network '{name}' has no IPv4 range")))?;
    let ip = pool
        .peek()
        .ok_or_else(|| ApiError::not_found(format!("network '{name}' has no free address left")))?;
    Reply::ok(json!({ "config": { "network": { name: { "nextip": ip.to_string() } } } }))
}

/// `GET /config/network/{name}/{ip}`: taken or free.
pub fn ip_status(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let raw = ctx.param(1).to_string();
    let ip: Ipv4Addr = raw
        .parse()
        .map_err(|_| ApiError::bad(format!("invalid IP address '{raw}'")))?;
    let id = network_id(ctx, &name)?;
    let pool = Pool::load(ctx.tx, id)?
        .ok_or_else(|| ApiError::not_found(format!("network '{name}' has no IPv4 range")))?;
    if !pool.net.contains(&ip) {
        return Err(ApiError::not_found(format!(
            "{ip} is not inside network '{name}' ({})",
            pool.net
        )));
    }
    let status = if pool.is_free(ip) { "free" } else { "taken" };
    Reply::ok(json!({ "config": { "network": { ip.to_string(): { "status": status } } } }))
}
