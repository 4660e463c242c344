//! Small endpoints about the daemon itself: version and liveness.

use serde_json::json;

use super::{ApiError, Ctx, Reply};

/// The API version this daemon implements (the spec's).
const API_VERSION: u32 = 1;

/// `GET /version`
pub fn version(_ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(json!({
        "version": {
            "luna": env!("CARGO_PKG_VERSION"),
            "api": API_VERSION,
            "commit": option_env!("LUNA2D_COMMIT").unwrap_or("unknown"),
        }
    }))
}

/// `GET /ping`: liveness for HA peers and load balancers.
pub fn ping(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    // Proves the database answers, not just the HTTP layer.
    let _: i64 = ctx.tx.query_row("SELECT 1", [], |r| r.get(0))?;
    Reply::ok(json!({ "message": "pong" }))
}

/// OS image push and grab run as background jobs (rsync to or from nodes), which
/// need the job queue this version does not have yet. Until then these routes
/// check their object and answer 503 saying so, rather than pretending.
fn image_job_unavailable(
    ctx: &Ctx,
    res: &crate::cmdb::resource::Resource,
) -> Result<Reply, ApiError> {
    let name = ctx.param(0);
    crate::cmdb::resource::require_id(ctx.tx, res, name)?;
    Err(ApiError::Unavailable(format!(
        "osimage push and grab for {} '{name}' need the job queue, which this luna2d version does not have yet",
        res.kind
    )))
}

/// `POST /config/node/{name}/_ospush` and `_osgrab`
pub fn node_image_job(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    image_job_unavailable(ctx, &crate::cmdb::node::NODE)
}

/// `POST /config/group/{name}/_ospush`
pub fn group_image_job(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    image_job_unavailable(ctx, &crate::cmdb::group::GROUP)
}
