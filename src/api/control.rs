//! Power, chassis and SEL control of nodes through their BMCs, and the
//! polling of queued work: `/control/*`, `/config/status/{id}`,
//! `/monitor/queue`, `/monitor/status`.
//!
//! Every control request becomes a job (`jobs::control`); the handler queues
//! it, and the reply waits for it (`Reply::Await`) up to a limit: a single
//! node's action, or a hostlist no larger than one batch, is answered with its
//! results; a larger hostlist is answered with the request id at once, to be
//! polled at `/control/status/{id}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{ApiError, Await, Ctx, Reply};
use crate::cmdb::control::Unusable;
use crate::cmdb::{self, queue};
use crate::hostlist;
use crate::jobs::control::Params;
use crate::power::Action;

/// Beyond this many nodes a hostlist is refused (a mistyped range).
const NODES_MAX: usize = 100_000;

/// The action of `/control/action/{command}/.../_{action}`.
fn action(command: &str, action: &str) -> Result<Action, ApiError> {
    let name = action.strip_prefix('_').unwrap_or(action);
    Action::parse(command, name).ok_or_else(|| {
        ApiError::bad(format!(
            "unknown control action '{command} {name}': one of {}",
            Action::ALL
        ))
    })
}

/// Queues a control job and answers how to await it.
fn queue_job(ctx: &Ctx, params: &Params, limit: Duration, then: Then) -> Result<Reply, ApiError> {
    // Actions that change a BMC's state run one at a time, in the order
    // asked, whatever nodes they name (overlapping hostlists cannot race);
    // reads (status, SEL list) run side by side, one at a time per hostlist.
    let reads = Action::parse(&params.command, &params.action).is_some_and(Action::reads);
    let target = if reads {
        params.label.clone()
    } else {
        "bmc-changes".to_string()
    };
    let request_id = super::jobs::enqueue(ctx, "control", &params.task(), &target, params)?;
    Ok(Reply::Await(Await {
        request_id,
        limit,
        then,
    }))
}

type Then = fn(&mut Ctx, &str, bool) -> Result<Reply, ApiError>;

/// How long one node's action may take, with room for the queue: a Redfish
/// action is up to four requests (find the system, act, and for a cycle
/// off and on), each within the BMC timeout.
fn single_limit(ctx: &Ctx) -> Duration {
    ctx.app.config.bmc_timeout * 4 + Duration::from_secs(5)
}

/// `GET /control/action/{command}/{node}/_{action}`
pub fn single(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (command, node) = (ctx.param(0).to_string(), ctx.param(1).to_string());
    let act = action(&command, ctx.param(2))?;
    if let Some(refused) = undrivable(ctx, &command, &node)? {
        return Ok(refused);
    }
    let params = Params {
        command: command.clone(),
        action: act_name(act).to_string(),
        nodes: vec![node.clone()],
        label: node,
        body: None,
        path: None,
    };
    let limit = single_limit(ctx);
    queue_job(ctx, &params, limit, single_reply)
}

/// The answer for a node whose BMC cannot be driven: 404 when there is no
/// such node, else the failure (500) naming why; `None` when it can be.
fn undrivable(ctx: &Ctx, command: &str, node: &str) -> Result<Option<Reply>, ApiError> {
    let target = cmdb::control::targets(ctx, &[node.to_string()])?;
    match target.into_iter().next() {
        Some((_, Err(Unusable::NoNode(why)))) => Err(ApiError::not_found(why)),
        // The command cannot be sent: it failed, and the message says why.
        Some((_, Err(Unusable::NoBmc(why)))) => Ok(Some(failed(command, node, &why))),
        _ => Ok(None),
    }
}

fn act_name(act: Action) -> &'static str {
    act.name().split(' ').nth(1).unwrap_or("")
}

fn failed(command: &str, node: &str, why: &str) -> Reply {
    Reply::Json(
        500,
        json!({
            "message": format!("{node}: {why}"),
            "control": { command: { "failed": { node: why } } },
        }),
    )
}

fn single_reply(ctx: &mut Ctx, request_id: &str, ended: bool) -> Result<Reply, ApiError> {
    if !ended {
        return queued_reply(request_id);
    }
    let (command, action) = task_of(ctx, request_id)?;
    let act = Action::parse(&command, &action);
    let messages = cmdb::status::take_all(ctx.tx, request_id)?;
    let Some(m) = messages.iter().find(|m| m.node.is_some()) else {
        let why = messages
            .last()
            .map(|m| m.message.clone())
            .unwrap_or_else(|| "no outcome was recorded".into());
        return Err(ApiError::Internal(why));
    };
    let node = m.node.clone().unwrap_or_default();
    let bucket = m.outcome.as_deref().unwrap_or("failed");
    if bucket == "failed" {
        return Ok(failed(&command, &node, &m.message));
    }
    if !act.is_some_and(Action::reads) {
        return Ok(Reply::Empty);
    }
    let detail = if bucket == "ok" {
        Value::String(m.message.clone())
    } else {
        Value::Null
    };
    Reply::ok(json!({
        "control": { command: { bucket: { node: detail } } },
        "request_id": request_id,
    }))
}

fn queued_reply(request_id: &str) -> Result<Reply, ApiError> {
    Reply::ok(json!({ "message": "queued", "request_id": request_id }))
}

/// The command and action of the control job of `request_id`.
fn task_of(ctx: &Ctx, request_id: &str) -> Result<(String, String), ApiError> {
    let task = queue::task(ctx.tx, request_id)?
        .ok_or_else(|| ApiError::not_found(format!("no data for request {request_id}")))?;
    let mut words = task.split(' ');
    Ok((
        words.next().unwrap_or("").to_string(),
        words.next().unwrap_or("").to_string(),
    ))
}

/// `POST /control/action/{command}/_{action}` with
/// `{"control": {command: {action: {"hostlist": "node[001-004]"}}}}`.
pub fn bulk(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let url_command = ctx.param(0).to_string();
    let url_action = ctx.param(1).trim_start_matches('_').to_string();
    let body = ctx
        .body
        .as_ref()
        .and_then(|b| b.get("control"))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad(
                "request body must be {\"control\": {command: {action: {\"hostlist\": ...}}}}",
            )
        })?;
    let (command, inner) = single_entry(body, "control")?;
    let (act_key, inner) = single_entry(inner, &format!("control.{command}"))?;
    if command != url_command || act_key != url_action {
        return Err(ApiError::bad(format!(
            "the body asks for '{command} {act_key}' but the URL for '{url_command} {url_action}'"
        )));
    }
    let act = action(command, act_key)?;
    let list = inner
        .get("hostlist")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad(format!("missing 'control.{command}.{act_key}.hostlist'")))?;
    let nodes = hostlist::expand(list)
        .map_err(|e| ApiError::not_found(format!("invalid hostlist: {}", e.0)))?;
    if nodes.is_empty() {
        return Err(ApiError::not_found("invalid hostlist: it names no node"));
    }
    if nodes.len() > NODES_MAX {
        return Err(ApiError::not_found(format!(
            "invalid hostlist: more than {NODES_MAX} nodes"
        )));
    }
    let limit = if nodes.len() <= ctx.app.config.bmc_batch_size {
        ctx.app.config.control_wait
    } else {
        Duration::ZERO
    };
    let params = Params {
        command: command.to_string(),
        action: act_name(act).to_string(),
        label: hostlist::compress(&nodes),
        nodes,
        body: None,
        path: None,
    };
    queue_job(ctx, &params, limit, bulk_reply)
}

/// The one key of `obj` and its object value.
fn single_entry<'a>(
    obj: &'a Map<String, Value>,
    what: &str,
) -> Result<(&'a str, &'a Map<String, Value>), ApiError> {
    let mut entries = obj.iter();
    match (entries.next(), entries.next()) {
        (Some((k, Value::Object(v))), None) => Ok((k.as_str(), v)),
        _ => Err(ApiError::bad(format!(
            "'{what}' must hold exactly one object"
        ))),
    }
}

fn bulk_reply(ctx: &mut Ctx, request_id: &str, ended: bool) -> Result<Reply, ApiError> {
    if !ended {
        return queued_reply(request_id);
    }
    let (command, _) = task_of(ctx, request_id)?;
    let messages = cmdb::status::take_all(ctx.tx, request_id)?;
    let mut buckets: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for m in messages {
        if let (Some(node), Some(bucket)) = (m.node, m.outcome) {
            buckets.entry(bucket).or_default().push((node, m.message));
        }
    }
    let mut out = Map::new();
    for (bucket, nodes) in buckets {
        let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
        let mut entry = json!({ "hostlist": hostlist::compress(&names) });
        if bucket == "failed" || bucket == "ok" {
            let details: Map<String, Value> = nodes
                .into_iter()
                .map(|(n, m)| (n, Value::String(m)))
                .collect();
            entry["details"] = Value::Object(details);
        }
        out.insert(bucket, entry);
    }
    Reply::ok(json!({ "control": { command: out }, "request_id": request_id }))
}

/// `POST /control/action/redfish/{node}/_setting` and `_upload`: the body's
/// `control.redfish.{setting|upload}` document goes to the node's Redfish
/// BMC (`upload` may name a `path` below the system; `Bios/Settings` by
/// default).
pub fn redfish(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let node = ctx.param(0).to_string();
    let what = ctx.param(1).trim_start_matches('_').to_string();
    if what != "setting" && what != "upload" {
        return Err(ApiError::bad(format!(
            "unknown Redfish action '{what}': setting or upload"
        )));
    }
    let doc = ctx
        .body
        .as_ref()
        .and_then(|b| b.pointer(&format!("/control/redfish/{what}")))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad(format!(
                "request body must be {{\"control\": {{\"redfish\": {{\"{what}\": {{...}}}}}}}}"
            ))
        })?
        .clone();
    let (path, doc) = match (what.as_str(), doc.get("path"), doc.get("document")) {
        ("upload", Some(Value::String(p)), Some(d)) => (Some(p.clone()), d.clone()),
        _ => (None, Value::Object(doc)),
    };
    if doc.as_object().is_none_or(Map::is_empty) {
        return Err(ApiError::bad(format!("the Redfish {what} holds no data")));
    }
    if let Some(refused) = undrivable(ctx, "redfish", &node)? {
        return Ok(refused);
    }
    let params = Params {
        command: "redfish".into(),
        action: what,
        nodes: vec![node.clone()],
        label: node,
        body: Some(doc),
        path,
    };
    let limit = single_limit(ctx);
    queue_job(ctx, &params, limit, redfish_reply)
}

fn redfish_reply(ctx: &mut Ctx, request_id: &str, ended: bool) -> Result<Reply, ApiError> {
    if !ended {
        return queued_reply(request_id);
    }
    let messages = cmdb::status::take_all(ctx.tx, request_id)?;
    match messages.iter().find(|m| m.node.is_some()) {
        Some(m) if m.outcome.as_deref() == Some("ok") => Ok(Reply::Empty),
        Some(m) => Ok(failed(
            "redfish",
            m.node.as_deref().unwrap_or(""),
            &m.message,
        )),
        None => Err(ApiError::Internal("no outcome was recorded".into())),
    }
}

/// `GET /control/status/{request_id}`: the outcomes recorded since the last
/// poll, by node; `complete` once the job has ended.
pub fn status(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let id = ctx.param(0).to_string();
    let (command, _) = task_of(ctx, &id)?;
    let complete = !queue::pending(ctx.tx, &id)?;
    let messages = cmdb::status::take_unread(ctx.tx, &id)?;
    let mut per_command: Map<String, Value> = ["ok", "on", "off"]
        .iter()
        .map(|b| (b.to_string(), json!({})))
        .collect();
    let mut failed = Map::new();
    let mut notes = Vec::new();
    for m in messages {
        match (m.node, m.outcome.as_deref()) {
            (Some(node), Some("failed")) => {
                failed.insert(node, Value::String(m.message));
            }
            (Some(node), Some(bucket)) => {
                let detail = match bucket {
                    "ok" => Value::String(m.message),
                    _ => Value::Null,
                };
                if let Some(Value::Object(b)) = per_command.get_mut(bucket) {
                    b.insert(node, detail);
                }
            }
            _ => notes.push(Value::String(format!("{} :: {}", m.created, m.message))),
        }
    }
    Reply::ok(json!({
        "request_id": id,
        "control": { command: per_command, "failed": failed },
        "messages": notes,
        "complete": complete,
    }))
}

/// `GET /config/status/{request_id}`: `{id: [{created, message}]}`, the
/// messages not read before.
pub fn config_status(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let id = ctx.param(0).to_string();
    if !cmdb::status::known(ctx.tx, &id)? && !queue::known(ctx.tx, &id)? {
        return Err(ApiError::not_found(format!("no data for request {id}")));
    }
    let messages: Vec<Value> = cmdb::status::take_unread(ctx.tx, &id)?
        .into_iter()
        .map(|m| {
            let text = match m.node {
                Some(node) => format!("{node}: {}", m.message),
                None => m.message,
            };
            json!({ "created": m.created, "message": text })
        })
        .collect();
    Reply::ok(json!({ id: messages }))
}

/// `GET /monitor/queue`: jobs waiting or running.
pub fn queue_list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(json!({ "monitor": { "queue": queue::pending_list(ctx.tx)? } }))
}

/// `GET /monitor/status`: every status message held.
pub fn status_list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    Reply::ok(json!({ "monitor": { "status": cmdb::status::all(ctx.tx)? } }))
}

/// `POST /monitor/status`: messages from elsewhere (another controller, a
/// script) appended under `monitor.status.request_id`.
pub fn status_push(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let status = ctx
        .body
        .as_ref()
        .and_then(|b| b.pointer("/monitor/status"))
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad("request body must be {\"monitor\": {\"status\": {...}}}"))?;
    let request_id = status
        .get("request_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| ApiError::bad("missing 'monitor.status.request_id'"))?
        .to_string();
    let mut texts = Vec::new();
    match (
        status.get("messages"),
        status.get("remote_request_id"),
        status.get("remote_host"),
    ) {
        (Some(Value::Array(list)), _, _) => {
            for m in list {
                let text = m
                    .get("message")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad("each of 'messages' needs a 'message' string"))?;
                let remote = match (
                    m.get("remote_request_id").and_then(Value::as_str),
                    m.get("remote_host").and_then(Value::as_str),
                ) {
                    (Some(id), Some(host)) => format!(" (request {id} on {host})"),
                    _ => String::new(),
                };
                texts.push(format!("{text}{remote}"));
            }
        }
        (None, Some(Value::String(id)), Some(Value::String(host))) => {
            texts.push(format!("continued as request {id} on {host}"));
        }
        _ => return Err(ApiError::bad(
            "'monitor.status' needs 'messages' (a list) or 'remote_request_id' and 'remote_host'",
        )),
    }
    if texts.is_empty() {
        return Err(ApiError::bad("'messages' is empty"));
    }
    let who = super::jobs::initiator(ctx);
    for text in texts {
        if text.len() > 4096 || text.chars().any(char::is_control) {
            return Err(ApiError::bad(
                "a message must be at most 4096 printable characters",
            ));
        }
        cmdb::status::add_by(ctx.tx, &request_id, &who, 200, &text)?;
    }
    Reply::ok(json!({ "message": "success" }))
}
