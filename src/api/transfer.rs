//! Export and import of the whole configuration (`/config/cluster/export`,
//! `/config/cluster/import`); the model is `cmdb::transfer`.

use super::{ApiError, Ctx, Reply};
use crate::cmdb::transfer;

/// `GET /config/cluster/export`
pub fn export(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(transfer::export(ctx)?)
}

/// `POST /config/cluster/import`: all of it or nothing; a configuration that
/// cannot be imported answers 404 with the first problem (the spec).
pub fn import(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let config = ctx.config_whole()?.clone();
    match transfer::import(ctx, &config) {
        Ok(()) => Reply::created("Configuration imported"),
        Err(crate::cmdb::Error::Invalid(m) | crate::cmdb::Error::NotFound(m)) => Err(
            ApiError::not_found(format!("the configuration could not be imported: {m}")),
        ),
        Err(other) => Err(other.into()),
    }
}
