//! Raw tables for HA peers (`/table/hashes`, `/table/data/{name}`); the model
//! is `cmdb::tables`.

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::cmdb::tables;

/// `GET /table/hashes`
pub fn hashes(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(json!({ "table": { "hashes": tables::hashes(ctx)? } }))
}

/// `GET /table/data/{name}`
pub fn data(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let list = tables::data(ctx, &name)?;
    Reply::ok(json!({ "table": { "data": { name: list } } }))
}
