//! `/announce` and `/scrape`: the BitTorrent tracker nodes' aria2c asks while
//! provisioning (no token, bencoded `text/plain` replies). The swarm lives in
//! memory (`crate::tracker`): peers announce again every interval, so a
//! restart loses nothing a minute does not rebuild.

use std::time::Instant;

use super::{ApiError, Ctx, Reply};

/// `GET /announce`
pub fn announce(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let remote = ctx
        .req
        .remote
        .map(|a| a.ip())
        .ok_or_else(|| ApiError::bad("the request's origin is unknown"))?;
    Ok(
        match ctx
            .app
            .tracker
            .announce(&ctx.req.query, remote, Instant::now())
        {
            Ok(body) => Reply::Plain(200, body),
            Err((status, body)) => Reply::Plain(status, body),
        },
    )
}

/// `GET /scrape`
pub fn scrape(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Ok(
        match ctx.app.tracker.scrape(&ctx.req.query, Instant::now()) {
            Ok(body) => Reply::Plain(200, body),
            Err((status, body)) => Reply::Plain(status, body),
        },
    )
}
