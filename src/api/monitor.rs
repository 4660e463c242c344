//! Node monitoring: installers report their progress, admins read it.
//!
//! A node's state is a free-form string such as `install.discovered` or
//! `install.success`, kept on the node row. `install.error` (or any state
//! ending in `.error`/`.fail`) is "not OK" and answers 500 on the node's
//! monitor endpoint, so a plain HTTP check can alert on it.

use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::resource::lookup_id;

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

/// Node states recorded as a side effect of the boot path (a node fetched its
/// boot or install script). They are written by one thread in batches, so that
/// thousands of booting nodes read their scripts without queuing for the
/// database's single writer. Nothing is promised to the node about these
/// writes; states a node reports itself (`POST /monitor/node`) are written
/// before the reply.
pub struct StateQueue {
    tx: crossbeam_channel::Sender<(i64, &'static str)>,
    rx: std::sync::Mutex<Option<crossbeam_channel::Receiver<(i64, &'static str)>>>,
}

/// Pending state updates; when full, further updates are dropped (with a log
/// line): they are informational.
const STATE_QUEUE_MAX: usize = 16_384;
/// Largest batch written in one transaction.
const STATE_BATCH_MAX: usize = 2_000;

impl Default for StateQueue {
    fn default() -> StateQueue {
        let (tx, rx) = crossbeam_channel::bounded(STATE_QUEUE_MAX);
        StateQueue {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }
}

impl StateQueue {
    pub fn push(&self, node: i64, state: &'static str) {
        if self.tx.try_send((node, state)).is_err() {
            log::warn!("node state queue full; state {state} of node id {node} not recorded");
        }
    }
}

/// Starts the thread that writes queued states.
pub fn spawn_state_writer(app: std::sync::Arc<super::App>) -> Result<(), String> {
    let rx = app
        .states
        .rx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or("state writer already started")?;
    let mut db = crate::db::open(&app.config.database).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("states".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < STATE_BATCH_MAX {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let _writing = app.write_lock.lock().unwrap_or_else(|e| e.into_inner());
                let result = db.transaction().and_then(|tx| {
                    {
                        let mut stmt =
                            tx.prepare_cached("UPDATE node SET status = ?2 WHERE id = ?1")?;
                        for (node, state) in &batch {
                            stmt.execute(rusqlite::params![node, state])?;
                        }
                    }
                    tx.commit()
                });
                if let Err(e) = result {
                    log::error!("node states not recorded: {e}");
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}
