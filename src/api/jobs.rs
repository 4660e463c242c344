//! Queuing jobs from a request: the row is written in the request's
//! transaction; the reply wakes the runner once that committed
//! (`Reply::Await`) and answers the request id to poll.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{ApiError, Await, Ctx, Reply};
use crate::cmdb::queue;

/// Who asked: the node of a node token, else the API user.
pub fn initiator(ctx: &Ctx) -> String {
    match ctx.token.as_ref().and_then(|t| t.node.clone()) {
        Some(node) => node,
        None => ctx.app.config.api_username.clone(),
    }
}

/// Queues `subsystem`/`task` with `params` on `target` (jobs on one target
/// run one at a time, in order); answers its request id (an earlier one's
/// when the same task is the newest waiting on that target).
pub fn enqueue(
    ctx: &Ctx,
    subsystem: &str,
    task: &str,
    target: &str,
    params: &impl Serialize,
) -> Result<String, ApiError> {
    let request_id = super::service::request_id()?;
    let param =
        serde_json::to_string(params).map_err(|e| ApiError::Internal(format!("params: {e}")))?;
    let added = queue::add(
        ctx.tx,
        &request_id,
        &initiator(ctx),
        subsystem,
        task,
        &param,
        target,
    )?;
    Ok(added.request_id().to_string())
}

/// Queues a job and answers at once `{"message": "queued", "request_id"}`.
pub fn queued(
    ctx: &Ctx,
    subsystem: &str,
    task: &str,
    target: &str,
    params: &impl Serialize,
) -> Result<Reply, ApiError> {
    queued_then(ctx, subsystem, task, target, params, queued_reply)
}

/// As [`queued`], for a request that created an object now (the job does
/// the rest): 201 with the same body.
pub fn queued_created(
    ctx: &Ctx,
    subsystem: &str,
    task: &str,
    target: &str,
    params: &impl Serialize,
) -> Result<Reply, ApiError> {
    queued_then(
        ctx,
        subsystem,
        task,
        target,
        params,
        |ctx, request_id, ended| match queued_reply(ctx, request_id, ended)? {
            Reply::Json(200, body) => Ok(Reply::Json(201, body)),
            other => Ok(other),
        },
    )
}

fn queued_then(
    ctx: &Ctx,
    subsystem: &str,
    task: &str,
    target: &str,
    params: &impl Serialize,
    then: fn(&mut Ctx, &str, bool) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let request_id = enqueue(ctx, subsystem, task, target, params)?;
    Ok(Reply::Await(Await {
        request_id,
        limit: Duration::ZERO,
        then,
    }))
}

/// The reply of a job not waited for: the spec's asynchronous shape, with
/// what was queued.
pub fn queued_reply(ctx: &mut Ctx, request_id: &str, _ended: bool) -> Result<Reply, ApiError> {
    let what = queue::describe(ctx.tx, request_id)?.unwrap_or_else(|| "job".into());
    Reply::ok(json!({ "message": "queued", "request_id": request_id, "task": what }))
}
