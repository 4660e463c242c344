//! Extra DNS records per network (`/config/dns/...`); the model is `cmdb::dns`.

use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::dns;

/// `GET /config/dns/{network}`
pub fn list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let entries = dns::records(ctx, &name)?;
    Reply::ok(json!({ "config": { "dns": { name: entries } } }))
}

/// `POST /config/dns/{network}`: upserts `[{host, ipaddress}]`.
pub fn update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    // An unknown network is named before a malformed body.
    crate::cmdb::resource::require_id(ctx.tx, &crate::cmdb::network::NETWORK, &name)?;
    let entries = ctx
        .config_section("dns")?
        .get(&name)
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad(format!("expected a list at 'config.dns.{name}'")))?
        .clone();
    dns::upsert(ctx, &name, &entries)?;
    Reply::created("DNS entries added or changed")
}

/// `GET /config/dns/{network}/{host}/_delete`
pub fn delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let host = ctx.param(1).to_string();
    dns::delete(ctx, &name, &host)?;
    Reply::updated()
}
