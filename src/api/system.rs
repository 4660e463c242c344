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
