//! `POST /tpm/{node}`: a node token for a node that proves itself by its TPM
//! (`cmdb::tpm`). The token has the provisioning scope: the node's own
//! endpoints (its state, its install script, its secrets), never the admin
//! API. Every refusal is a 401 naming the cause, as the spec says.

use serde_json::{json, Value};

use super::{auth, ApiError, Ctx, Reply};
use crate::cmdb::tpm;

pub fn token(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let node = ctx.param(0).to_string();
    let sha = ctx
        .body
        .as_ref()
        .and_then(|b| b.get("tpm_sha256"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::Unauthorized("TPM information is missing (tpm_sha256)".into()))?
        .to_string();
    match tpm::attest(ctx, &node, &sha)? {
        Ok(()) => Reply::ok(json!({ "token": auth::provision_token(ctx.app, &node)? })),
        Err(refusal) => Err(ApiError::Unauthorized(refusal.to_string())),
    }
}
