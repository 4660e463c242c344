//! High availability endpoints: the journal (`POST /journal` applies a
//! master's entries; `GET /journal/{host}` lists what waits for a host and
//! `…/_delete` drops it), the HA state and roles (`/ha/*`), and HA
//! monitoring (`/monitor/ha`, `/monitor/mother`). The machinery is `crate::ha`.

use serde_json::{json, Map, Value};

use super::{routes, ApiError, Ctx, Reply, Worker};
use crate::cmdb::journal;
use crate::http::{Incoming, Method, Outgoing};

/// `POST /journal`: applies the entries in order, in one transaction, each
/// inside a savepoint with the record of it being applied, skipping those
/// applied before (exactly once). An entry refused here is rolled back to
/// its savepoint, marked applied, and the controller marked out of sync.
/// Answers `{"applied_through": id}`.
pub fn apply_journal(worker: &mut Worker, body: Option<Value>) -> Result<Outgoing, ApiError> {
    let app = worker.app.clone();
    let entries = body
        .as_ref()
        .and_then(|b| b.get("journal"))
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad("request body must be {\"journal\": [...]}"))?;
    if app.ha.is_master() && app.ha.enabled() {
        return Err(ApiError::Unavailable(format!(
            "{} is the master: it sends journal entries, it does not take them",
            app.ha.name
        )));
    }
    // Decoded and routed before anything is written: a malformed batch
    // changes nothing.
    let mut plan = Vec::with_capacity(entries.len());
    for e in entries {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let id = e.get("id").and_then(Value::as_i64).unwrap_or(0);
        let sendby = field("sendby").to_string();
        if id <= 0 || sendby.is_empty() {
            return Err(ApiError::bad("each journal entry needs an id and a sender"));
        }
        let payload = crate::util::b64_decode(field("payload"))
            .ok_or_else(|| ApiError::bad(format!("journal entry {id}: payload is not base64")))?;
        let path = field("path").to_string();
        let method = Method::parse(field("method"));
        let (path_only, query) = path.split_once('?').unwrap_or((&path, ""));
        let segments = routes::split_path(path_only)
            .ok_or_else(|| ApiError::bad(format!("journal entry {id}: malformed path")))?;
        let routes::Found::Route(route, params) = routes::find(method, &segments) else {
            return Err(ApiError::bad(format!(
                "journal entry {id}: no route for {path}"
            )));
        };
        if !routes::replicated(route) {
            return Err(ApiError::bad(format!(
                "journal entry {id}: {path} is not a replicated change"
            )));
        }
        let body = if payload.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            serde_json::from_slice::<Value>(&payload).ok()
        };
        // The request value of the replay: the dispatcher's, not a socket's.
        let req = Incoming {
            method,
            path: path_only.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            remote: None,
            body: payload,
        };
        plan.push((id, sendby, route, params, body, req));
    }
    let _writing = app.write_lock.lock().unwrap_or_else(|e| e.into_inner());
    let tx = worker
        .db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut through = 0i64;
    let mut regen = false;
    for (id, sendby, route, params, body, req) in plan {
        through = through.max(id);
        if journal::applied(&tx, &sendby)? >= id {
            continue;
        }
        tx.execute_batch("SAVEPOINT luna_entry")?;
        let mut ctx = Ctx {
            store: crate::cmdb::Store {
                tx: &tx,
                config: &app.config,
                sealer: &app.sealer,
            },
            app: &app,
            req: &req,
            token: None,
            params,
            body,
        };
        let ran = routes::run(route, &mut ctx);
        drop(ctx);
        match ran {
            Ok(_) => {
                tx.execute_batch("RELEASE luna_entry")?;
                regen |= route.regen;
            }
            Err(e) => {
                // Refused here though accepted there: the controllers differ.
                log::warn!(
                    "HA: journal entry {id} from {sendby} ({} {}) failed here: {e}",
                    req.method.as_str(),
                    req.path
                );
                tx.execute_batch("ROLLBACK TO luna_entry; RELEASE luna_entry")?;
                let role = journal::role(&tx, false)?;
                journal::set_role(&tx, role.master, false, role.overrule)?;
            }
        }
        journal::mark_applied(&tx, &sendby, id)?;
    }
    tx.commit()?;
    app.generation
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    if regen {
        app.regen.request(crate::gen::Service::Dhcp, None);
        app.regen.request(crate::gen::Service::Dns, None);
    }
    Ok(super::json_reply(
        200,
        &json!({ "applied_through": through }),
    ))
}

/// The HA record of this controller, as `/ha/state` shows it.
fn state(ctx: &Ctx) -> Result<Value, ApiError> {
    let role = journal::role(ctx.tx, ctx.app.config.ha_master)?;
    Ok(json!({
        "enabled": ctx.app.ha.enabled(),
        "syncimages": ctx.app.config.ha_sync_images,
        "insync": role.insync,
        "sharedip": false,
        "overrule": role.overrule,
        "master": ctx.app.ha.is_master(),
        "updated": role.updated,
    }))
}

fn require_ha(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.app.ha.enabled() {
        Ok(())
    } else {
        Err(ApiError::not_found("HA not available"))
    }
}

/// `GET /ha/state`
pub fn ha_state(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    require_ha(ctx)?;
    Reply::ok(json!({ "ha": state(ctx)? }))
}

/// `GET /ha/master`
pub fn master(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    if ctx.app.ha.is_master() {
        Reply::ok(json!({ "message": true }))
    } else {
        Err(ApiError::not_found(format!(
            "{} does not hold the master role",
            ctx.app.ha.name
        )))
    }
}

/// `GET /ha/master/_set`: this controller takes the master role.
pub fn set_master(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    require_ha(ctx)?;
    let role = journal::role(ctx.tx, ctx.app.config.ha_master)?;
    journal::set_role(ctx.tx, true, true, role.overrule)?;
    ctx.app.ha.set_master(true);
    log::warn!("HA: {} takes the master role", ctx.app.ha.name);
    Reply::ok(json!({ "message": "current role set to master" }))
}

/// `GET /ha/overrule/_set`: recorded with or without peers (the spec lists
/// no refusal); it matters once HA is on.
pub fn set_overrule(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let role = journal::role(ctx.tx, ctx.app.config.ha_master)?;
    journal::set_role(ctx.tx, role.master, role.insync, true)?;
    Ok(Reply::Empty)
}

/// `GET /ha/controllers`: this controller's record and each peer's, asked
/// over `/ha/state`.
pub fn controllers(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    require_ha(ctx)?;
    let mut out = Map::new();
    out.insert(
        ctx.app.ha.name.clone(),
        json!({ "ha": state(ctx)?, "config": { "shadow": !ctx.app.ha.is_master(), "beacon": ctx.app.ha.is_master() } }),
    );
    let token = super::auth::peer_token(ctx.app)?;
    for peer in &ctx.app.ha.peers {
        let answer = crate::ha::client::request(
            peer.addr,
            "GET",
            "/ha/state",
            &token,
            None,
            std::time::Duration::from_secs(3),
        );
        let entry = match answer {
            Ok((200, body)) => {
                let ha = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("ha").cloned())
                    .unwrap_or(Value::Null);
                let master = ha.get("master") == Some(&Value::Bool(true));
                json!({ "ha": ha, "config": { "shadow": !master, "beacon": master } })
            }
            Ok((status, _)) => json!({ "comment": format!("{} answered {status}", peer.addr) }),
            Err(e) => json!({ "comment": format!("unreachable: {e}") }),
        };
        out.insert(peer.name.clone(), entry);
    }
    Reply::ok(json!({ "message": out }))
}

/// `GET /ha/syncimage/{name}`: deprecated in the spec; always 404.
pub fn syncimage(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    crate::cmdb::value::Name::parse("osimage", ctx.param(0))?;
    Err(ApiError::not_found("sync not available for images"))
}

/// `GET /journal/{host}`: what waits for `host` (nothing is deleted).
pub fn list(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let host = ctx.param(0).to_string();
    let entries = journal::list(ctx.tx, &host)?;
    if entries.is_empty() {
        return Err(ApiError::not_found(format!(
            "no journal entries for {host}"
        )));
    }
    Reply::ok(json!({ "journal": entries }))
}

/// `GET /journal/{host}/_delete`
pub fn delete(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let host = ctx.param(0).to_string();
    if journal::delete_for(ctx.tx, &host)? == 0 {
        return Err(ApiError::not_found(format!(
            "no journal entries for {host}"
        )));
    }
    Ok(Reply::Empty)
}

/// `GET /monitor/ha[/{name}]`: each controller's role as this one knows it
/// (a lone controller is active).
pub fn monitor(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut all = Map::new();
    let me = if ctx.app.ha.is_master() {
        "active"
    } else {
        "standby"
    };
    all.insert(
        ctx.app.ha.name.clone(),
        json!({ "status": me, "state": format!("{} ok", ctx.app.ha.name) }),
    );
    for peer in &ctx.app.ha.peers {
        let waiting = journal::list(ctx.tx, &peer.name)?.len();
        all.insert(
            peer.name.clone(),
            json!({ "status": "peer", "state": format!("{} ok, {waiting} journal entries waiting", peer.name) }),
        );
    }
    match ctx.params.first() {
        None => Reply::ok(json!({ "monitor": { "status": { "ha": all } } })),
        Some(name) => match all.remove(name) {
            Some(v) => Reply::ok(json!({ "monitor": { "status": { name: v } } })),
            None => Err(ApiError::not_found(format!("no controller '{name}'"))),
        },
    }
}

/// `GET /monitor/mother[/{name}]`: the daemon's background parts.
pub fn mother(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let (queued, running) = crate::cmdb::queue::counts(ctx.tx)?;
    let mut all = Map::new();
    all.insert(
        ctx.app.ha.name.clone(),
        json!({ "status": "running", "state": format!("{} ok", ctx.app.ha.name) }),
    );
    all.insert(
        "jobs".into(),
        json!({ "status": "running", "state": format!("{running} running, {queued} queued") }),
    );
    for service in [crate::gen::Service::Dhcp, crate::gen::Service::Dns] {
        let (status, state) = match ctx.app.regen.last_error(service) {
            None => ("running", format!("{} configuration ok", service.name())),
            Some(e) => (
                "failed",
                format!("{} configuration rejected: {e}", service.name()),
            ),
        };
        all.insert(
            format!("{}-generator", service.name()),
            json!({ "status": status, "state": state }),
        );
    }
    if ctx.app.ha.enabled() {
        all.insert(
            "ha".into(),
            json!({ "status": "running", "state": format!("{} peers", ctx.app.ha.peers.len()) }),
        );
    }
    match ctx.params.first() {
        None => Reply::ok(json!({ "monitor": { "status": { "mother": all } } })),
        Some(name) => match all.remove(name) {
            Some(v) => Reply::ok(json!({ "monitor": { "status": { name: v } } })),
            None => Err(ApiError::not_found(format!("no mother entry '{name}'"))),
        },
    }
}
