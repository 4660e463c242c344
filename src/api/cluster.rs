//! The cluster object (`/config/cluster`); the model is `cmdb::cluster`.

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::cmdb::cluster::{controllers, inheritable};

/// `GET /config/cluster`
pub fn show(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut obj = inheritable(ctx.tx)?;
    for (key, entry) in controllers(ctx)? {
        obj.insert(key, entry);
    }
    Reply::ok(json!({ "config": { "cluster": obj } }))
}

/// `POST /config/cluster`: settings only; controller entries are refused.
pub fn update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let obj = ctx
        .config_section("cluster")?
        .as_object()
        .ok_or_else(|| ApiError::bad("'config.cluster' must be an object"))?
        .clone();
    crate::cmdb::cluster::update(ctx, &obj)?;
    Reply::updated()
}
