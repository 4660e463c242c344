//! Node monitoring (`/monitor/node/...`): installers report their progress,
//! admins read it; the model is `cmdb::monitor`. A failing state answers 500
//! on the node's monitor endpoint, so a plain HTTP check can alert on it.

use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::monitor::{self as model, failing, interpret};

/// `GET /monitor/node/{node}`: 200 when the node is OK, 500 when not.
pub fn node(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let state = model::state_of(ctx, &name)?;
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
    model::set_state(ctx, &name, state)?;
    Reply::updated()
}

/// `GET /monitor/node`: every node's state.
pub fn nodes(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut out = Map::new();
    for (name, state) in model::states(ctx)? {
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
                let result = db
                    .transaction()
                    .map_err(crate::cmdb::Error::from)
                    .and_then(|tx| {
                        model::set_states(&tx, &batch)?;
                        Ok(tx.commit()?)
                    });
                if let Err(e) = result {
                    log::error!("node states not recorded: {e}");
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}
