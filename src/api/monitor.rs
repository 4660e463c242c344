//! Node monitoring: installers report their progress, admins read it.
//!
//! A node's state is a free-form string such as `install.discovered` or
//! `install.success`, kept on the node row. `install.error` (or any state
//! ending in `.error`/`.fail`) is "not OK" and answers 500 on the node's
//! monitor endpoint, so a plain HTTP check can alert on it.

use serde_json::{json, Map, Value};

use super::resource::lookup_id;
use super::{ApiError, Ctx, Reply};

/// Longest state string accepted.
const STATE_BYTES_MAX: usize = 256;

fn failing(state: &str) -> bool {
    state.ends_with(".error") || state.ends_with(".fail") || state.ends_with(".failed")
}

/// A short human reading of a state.
fn interpret(state: &str) -> String {
    match state.strip_prefix("install.") {
        Some("error") => "Luna installer: error".into(),
        Some(step) => format!("Luna installer: {step}"),
        None if state.is_empty() => "unknown".into(),
        None if failing(state) => format!("{state}: failing"),
        None => state.to_string(),
    }
}

/// `GET /monitor/node/{node}`: 200 when the node is OK, 500 when not.
pub fn node(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let state: Option<Option<String>> = ctx
        .tx
        .prepare_cached("SELECT status FROM node WHERE name = ?1")?
        .query_row([&name], |r| r.get(0))
        .map(Some)
        .or_else(|e| {
            if e == rusqlite::Error::QueryReturnedNoRows {
                Ok(None)
            } else {
                Err(e)
            }
        })?;
    let state = state
        .ok_or_else(|| ApiError::not_found(format!("node '{name}' not found")))?
        .unwrap_or_default();
    let code = if failing(&state) { 500 } else { 200 };
    Ok(Reply::Json(
        code,
        json!({ "monitor": { "status": { name: { "state": state, "status": interpret(&state) } } } }),
    ))
}

/// `POST /monitor/node/{node}`: records the state an installer reports.
pub fn update_node(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let body = ctx
        .body
        .as_ref()
        .ok_or_else(|| ApiError::bad("request body is empty; JSON expected"))?;
    let entry = body
        .get("monitor")
        .and_then(|m| m.get("status"))
        .and_then(|s| s.get(&name))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad(format!(
                "request body must be {{\"monitor\": {{\"status\": {{\"{name}\": {{\"state\": ...}}}}}}}}"
            ))
        })?;
    if let Some(k) = entry.keys().find(|k| *k != "state" && *k != "status") {
        return Err(ApiError::bad(format!(
            "unknown field '{k}' for node monitoring"
        )));
    }
    let state = entry
        .get("state")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("state is required and must be a string"))?;
    if state.is_empty() || state.len() > STATE_BYTES_MAX || state.chars().any(char::is_control) {
        return Err(ApiError::bad(format!(
            "invalid state: 1-{STATE_BYTES_MAX} printable characters expected"
        )));
    }
    let id = lookup_id(ctx.tx, "node", &name)?
        .ok_or_else(|| ApiError::not_found(format!("node '{name}' not found")))?;
    ctx.tx
        .prepare_cached("UPDATE node SET status = ?2 WHERE id = ?1")?
        .execute(rusqlite::params![id, state])?;
    Reply::updated()
}

/// `GET /monitor/node`: every node's state.
pub fn nodes(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut stmt = ctx
        .tx
        .prepare_cached("SELECT name, COALESCE(status, '') FROM node ORDER BY name")?;
    let mut out = Map::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (name, state) = row?;
        let shown = if state.is_empty() {
            "ok"
        } else {
            state.as_str()
        };
        out.insert(
            name.clone(),
            json!({ "state": format!("{name} {shown}"), "status": interpret(&state) }),
        );
    }
    Reply::ok(json!({ "monitor": { "status": { "node": out } } }))
}
