//! Export and import of the whole configuration (`/config/cluster/export`,
//! `/config/cluster/import`); the model is `cmdb::transfer`.

use super::{ApiError, Ctx, Reply};
use crate::cmdb::transfer;

/// `GET /config/cluster/export`
pub fn export(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(transfer::export(ctx)?)
}

/// `POST /config/cluster/import`
pub fn import(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let config = ctx.config_whole()?.clone();
    transfer::import(ctx, &config)?;
    Reply::created("Configuration imported")
}
