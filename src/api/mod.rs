//! The REST API: dispatcher, errors, replies and the per-request context.
//!
//! `dispatch` is the one place a request becomes a reply: it matches the route
//! table (`routes.rs`), checks the token, parses the JSON body, opens the
//! transaction, runs the handler and maps its `Result` to a status and body.
//! Handlers return values; they never write to the connection.

pub mod auth;
pub mod boot;
pub mod cluster;
pub mod control;
pub mod dns;
pub mod files;
pub mod ha;
pub mod interface;
pub mod jobs;
pub mod monitor;
pub mod network;
pub mod osimage;
pub mod osuser;
pub mod plugins;
pub mod rack;
pub mod resource;
pub mod routes;
pub mod secrets;
pub mod service;
pub mod system;
pub mod tables;
pub mod tpm;
pub mod tracker;
pub mod transfer;

use std::fmt;
use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::http::{Body, Incoming, Method, Outgoing};

/// State shared by all workers; read-only after start-up.
pub struct App {
    pub config: Config,
    pub auth: auth::Keys,
    pub templates: crate::templates::Shared,
    /// The address actually listened on (the port matters when 0 was asked for).
    pub bound: std::net::SocketAddr,
    pub cooldowns: service::Cooldowns,
    pub regen: crate::gen::Regen,
    /// Held for the whole of every write transaction (see `dispatch`).
    pub write_lock: std::sync::Mutex<()>,
    pub states: monitor::StateQueue,
    /// Bumped after every committed write: what was derived from the database
    /// before (boot scripts) is stale. Writers outside `dispatch` bump it too.
    pub generation: std::sync::atomic::AtomicU64,
    pub boot_scripts: boot::ScriptCache,
    pub sealer: crate::secrets::Sealer,
    /// The directory for OS users and groups, when configured.
    pub ldap: Option<crate::ldap::Directory>,
    /// The job runner's handle: wake it, wait for a job.
    pub jobs: crate::jobs::Jobs,
    /// The BitTorrent tracker's swarms.
    pub tracker: crate::tracker::Tracker,
    /// Request counts and latencies per route class (`/export/prometheus`).
    pub metrics: crate::metrics::Metrics,
    /// This controller among the controllers.
    pub ha: crate::ha::Ha,
}

/// One worker thread's state: its own SQLite connection.
pub struct Worker {
    pub app: Arc<App>,
    db: Connection,
}

impl Worker {
    pub fn new(app: Arc<App>) -> Result<Worker, String> {
        let db = crate::db::open(&app.config.database).map_err(|e| e.to_string())?;
        Ok(Worker { app, db })
    }

    /// After a panic the connection may still be inside a transaction.
    pub fn reset(&mut self) {
        if !self.db.is_autocommit() {
            let _ = self.db.execute_batch("ROLLBACK");
        }
    }
}

impl crate::daemon::Daemon for App {
    fn config(&self) -> &Config {
        &self.config
    }
    fn templates(&self) -> &crate::templates::Shared {
        &self.templates
    }
    fn port(&self) -> u16 {
        self.bound.port()
    }
    fn write_lock(&self) -> &std::sync::Mutex<()> {
        &self.write_lock
    }

    fn sealer(&self) -> &crate::secrets::Sealer {
        &self.sealer
    }
    fn peer_token(&self) -> Result<String, String> {
        auth::peer_token(self).map_err(|e| e.to_string())
    }
    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl crate::gen::Host for App {
    fn regen(&self) -> &crate::gen::Regen {
        &self.regen
    }
}

impl crate::jobs::Host for App {
    fn jobs(&self) -> &crate::jobs::Jobs {
        &self.jobs
    }
    fn tracker(&self) -> &crate::tracker::Tracker {
        &self.tracker
    }
}

impl crate::images::Host for App {
    fn tracker(&self) -> &crate::tracker::Tracker {
        &self.tracker
    }
}

impl crate::ha::Host for App {
    fn ha(&self) -> &crate::ha::Ha {
        &self.ha
    }
    fn regen(&self) -> &crate::gen::Regen {
        &self.regen
    }
    fn tracker(&self) -> &crate::tracker::Tracker {
        &self.tracker
    }
}

impl crate::http::Handler for Worker {
    fn handle(&mut self, req: &Incoming) -> Outgoing {
        dispatch(self, req)
    }

    fn after_panic(&mut self) {
        self.reset();
    }
}

/// Everything a handler may use. It dereferences to the model's `Store`, so a
/// handler passes `ctx` wherever the model wants one.
pub struct Ctx<'a> {
    pub store: crate::cmdb::Store<'a>,
    pub app: &'a App,
    pub req: &'a Incoming,
    /// The claims of the token sent, when it was valid.
    pub token: Option<auth::Claims>,
    /// Decoded `{name}` segments of the route, in order.
    pub params: Vec<String>,
    /// The parsed JSON body of a POST.
    pub body: Option<Value>,
}

impl<'a> std::ops::Deref for Ctx<'a> {
    type Target = crate::cmdb::Store<'a>;
    fn deref(&self) -> &crate::cmdb::Store<'a> {
        &self.store
    }
}

impl Ctx<'_> {
    pub fn param(&self, idx: usize) -> &str {
        self.params.get(idx).map(String::as_str).unwrap_or("")
    }

    /// The whole `config` object of a body (import).
    pub fn config_whole(&self) -> Result<&Map<String, Value>, ApiError> {
        self.body
            .as_ref()
            .and_then(|b| b.get("config"))
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::bad("request body must be {\"config\": {...}}"))
    }

    /// The object at `config.<kind>`, required for every POST.
    pub fn config_section(&self, kind: &str) -> Result<&Value, ApiError> {
        let body = self
            .body
            .as_ref()
            .ok_or_else(|| ApiError::bad("request body is empty; JSON expected"))?;
        let config = body
            .as_object()
            .and_then(|o| if o.len() == 1 { o.get("config") } else { None })
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "request body must be {{\"config\": {{\"{kind}\": ...}}}}"
                ))
            })?;
        if let Some(other) = config.keys().find(|k| *k != kind) {
            return Err(ApiError::bad(format!(
                "unexpected key 'config.{other}': expected 'config.{kind}'"
            )));
        }
        config
            .get(kind)
            .ok_or_else(|| ApiError::bad(format!("missing 'config.{kind}' in request body")))
    }

    /// What the body holds at a JSON pointer (`/config/osimage/compute`),
    /// `null` counting as nothing: a clone whose body names no copy there is
    /// answered 404 by the spec, not 400.
    pub fn body_at(&self, pointer: &str) -> Option<&Value> {
        self.body
            .as_ref()
            .and_then(|b| b.pointer(pointer))
            .filter(|v| !v.is_null())
    }

    /// The object at `config.<kind>.<name>`, the envelope of every named POST.
    pub fn config_object(&self, kind: &str, name: &str) -> Result<&Map<String, Value>, ApiError> {
        let section = self
            .config_section(kind)?
            .as_object()
            .ok_or_else(|| ApiError::bad(format!("'config.{kind}' must be an object")))?;
        if let Some(other) = section.keys().find(|k| *k != name) {
            return Err(ApiError::bad(format!(
                "'config.{kind}.{other}' does not match the name in the URL '{name}'"
            )));
        }
        section
            .get(name)
            .ok_or_else(|| {
                ApiError::bad(format!("missing 'config.{kind}.{name}' in request body"))
            })?
            .as_object()
            .ok_or_else(|| ApiError::bad(format!("'config.{kind}.{name}' must be an object")))
    }
}

/// Every failure a handler can report. Mapped to a status in `reply_for_error`.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Unavailable(String),
    /// A template failed to render: a 500 whose message names template and line.
    Template(String),
    Internal(String),
}

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::NotFound(msg.into())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<crate::cmdb::Error> for ApiError {
    fn from(e: crate::cmdb::Error) -> ApiError {
        use crate::cmdb::Error as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Unavailable(m) => ApiError::Unavailable(m),
            E::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    /// The model decides what a database error means (busy or internal).
    fn from(e: rusqlite::Error) -> ApiError {
        crate::cmdb::Error::from(e).into()
    }
}

/// What a handler returns on success.
pub enum Reply {
    Json(u16, Value),
    /// 204, no body.
    Empty,
    /// JSON already serialized.
    Raw(u16, Vec<u8>),
    /// Plain text: boot scripts, install scripts.
    Text(u16, String),
    /// Bytes sent as `text/plain` (bencoded tracker replies).
    Plain(u16, Vec<u8>),
    /// Bytes with their own content type (exporters).
    Typed(u16, &'static str, Vec<u8>),
    File(std::fs::File, u64),
    /// Wait for a queued job, then answer (see `Await`).
    Await(Await),
}

/// A reply that depends on a job queued by the handler: after the handler's
/// transaction commits, the worker waits up to `limit` for the job to end, then
/// `then` builds the reply (told whether the job ended) in a new transaction.
pub struct Await {
    pub request_id: String,
    pub limit: std::time::Duration,
    pub then: fn(&mut Ctx, &str, bool) -> Result<Reply, ApiError>,
}

impl Reply {
    pub fn ok(v: Value) -> Result<Reply, ApiError> {
        Ok(Reply::Json(200, v))
    }
    pub fn created(msg: impl Into<String>) -> Result<Reply, ApiError> {
        Ok(Reply::Json(201, json!({ "message": msg.into() })))
    }
    pub fn updated() -> Result<Reply, ApiError> {
        Ok(Reply::Empty)
    }
}

pub use crate::http::error_reply;

fn reply_for_error(e: ApiError) -> Outgoing {
    match e {
        ApiError::BadRequest(m) => error_reply(400, &m),
        ApiError::Unauthorized(m) => error_reply(401, &m),
        ApiError::Forbidden(m) => error_reply(403, &m),
        ApiError::NotFound(m) => error_reply(404, &m),
        ApiError::Unavailable(m) => error_reply(503, &m),
        ApiError::Template(m) => {
            log::error!("{m}");
            error_reply(500, &m)
        }
        ApiError::Internal(m) => {
            log::error!("internal error: {m}");
            error_reply(500, "internal error; see the daemon log")
        }
    }
}

/// A JSON reply, outside the handler path.
pub fn json_reply(status: u16, v: &Value) -> Outgoing {
    Outgoing {
        status,
        content_type: "application/json",
        body: Body::Bytes(serde_json::to_vec(v).unwrap_or_default()),
        headers: Vec::new(),
    }
}

/// The path with its query, as the request named it.
fn full_path(req: &Incoming) -> String {
    if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    }
}

/// Runs `f` with a context in a transaction (a write one under the write
/// lock when `write`); commits only on success.
#[allow(clippy::too_many_arguments)]
fn transact(
    worker: &mut Worker,
    app: &App,
    req: &Incoming,
    write: bool,
    token: Option<auth::Claims>,
    params: Vec<String>,
    body: Option<Value>,
    f: impl FnOnce(&mut Ctx) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let behavior = if write {
        TransactionBehavior::Immediate
    } else {
        TransactionBehavior::Deferred
    };
    // Writers queue here rather than in SQLite, whose busy handler sleeps in
    // steps of up to 100 ms: under a boot storm that is the whole latency.
    let _writing = write.then(|| app.write_lock.lock().unwrap_or_else(|e| e.into_inner()));
    let tx = worker.db.transaction_with_behavior(behavior)?;
    let mut ctx = Ctx {
        store: crate::cmdb::Store {
            tx: &tx,
            config: &app.config,
            sealer: &app.sealer,
        },
        app,
        req,
        token,
        params,
        body,
    };
    let result = f(&mut ctx);
    drop(ctx);
    match result {
        Ok(reply) => tx.commit().map(|_| reply).map_err(ApiError::from),
        Err(e) => Err(e),
    }
}

/// Runs one request to completion. The transaction commits only on success.
pub fn dispatch(worker: &mut Worker, req: &Incoming) -> Outgoing {
    let started = std::time::Instant::now();
    let mut class = crate::metrics::CLASSES.len() - 1;
    let out = route_and_run(worker, req, &mut class);
    worker
        .app
        .metrics
        .observe(class, out.status, started.elapsed());
    out
}

/// `dispatch` itself; `class` is set to the matched route's class.
fn route_and_run(worker: &mut Worker, req: &Incoming, class: &mut usize) -> Outgoing {
    let method = if req.method == Method::Head {
        Method::Get
    } else {
        req.method
    };
    let Some(segments) = routes::split_path(&req.path) else {
        return error_reply(400, "malformed percent-encoding in the URL path");
    };
    let (route, params) = match routes::find(method, &segments) {
        routes::Found::Route(r, p) => (r, p),
        routes::Found::WrongMethod => return error_reply(405, "method not allowed on this path"),
        routes::Found::None => return error_reply(404, &format!("no such endpoint: {}", req.path)),
    };
    *class = crate::metrics::class_of(route.pattern);
    let token = match auth::check(&worker.app, req, route.auth, &params) {
        Ok(t) => t,
        Err(e) => return reply_for_error(e),
    };
    let body = if method == Method::Post {
        if req.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(v) => Some(v),
                Err(e) => return error_reply(400, &format!("malformed JSON in request body: {e}")),
            }
        }
    } else {
        None
    };
    let app = worker.app.clone();
    if let routes::Handler::Batch(batch) = route.handler {
        // Its own transaction: e.g. a master's journal, entry by entry.
        return match batch(worker, body) {
            Ok(reply) => reply,
            Err(e) => reply_for_error(e),
        };
    }
    let replicated = app.ha.enabled() && routes::replicated(route);
    if replicated && !app.ha.is_master() {
        return error_reply(
            503,
            &format!(
                "{} is a shadow controller: send changes to the master",
                app.ha.name
            ),
        );
    }
    let result = transact(
        worker,
        &app,
        req,
        route.write,
        token.clone(),
        params.clone(),
        body,
        |ctx| {
            let reply = routes::run(route, ctx)?;
            if replicated {
                // In the change's own transaction: the peers get it or it
                // did not happen.
                crate::cmdb::journal::record(
                    &ctx.store,
                    &ctx.app.ha.peer_names(),
                    &ctx.app.ha.name,
                    req.method.as_str(),
                    &full_path(req),
                    &req.body,
                )?;
            }
            Ok(reply)
        },
    );
    if replicated && result.is_ok() {
        app.ha.wake();
    }
    if route.write && result.is_ok() {
        app.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
    if route.regen && result.is_ok() {
        app.regen.request(crate::gen::Service::Dhcp, None);
        app.regen.request(crate::gen::Service::Dns, None);
    }
    let result = match result {
        // The job is committed: wake the runner, wait for the job (with no
        // transaction open), then answer from what it recorded.
        Ok(Reply::Await(wait)) => {
            app.jobs.wake();
            // Half the admin workers at most wait for jobs; the rest serve.
            let waiters_max = (app.config.workers / 2).max(1);
            let ended = app.jobs.wait(&wait.request_id, wait.limit, waiters_max);
            transact(worker, &app, req, true, token, params, None, |ctx| {
                (wait.then)(ctx, &wait.request_id, ended)
            })
        }
        other => other,
    };
    match result {
        Ok(Reply::Json(status, v)) => Outgoing {
            status,
            content_type: "application/json",
            body: Body::Bytes(serde_json::to_vec(&v).unwrap_or_default()),
            headers: Vec::new(),
        },
        Ok(Reply::Raw(status, bytes)) => Outgoing {
            status,
            content_type: "application/json",
            body: Body::Bytes(bytes),
            headers: Vec::new(),
        },
        Ok(Reply::Text(status, text)) => Outgoing {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Bytes(text.into_bytes()),
            headers: Vec::new(),
        },
        Ok(Reply::Typed(status, content_type, bytes)) => Outgoing {
            status,
            content_type,
            body: Body::Bytes(bytes),
            headers: Vec::new(),
        },
        Ok(Reply::Plain(status, bytes)) => Outgoing {
            status,
            content_type: "text/plain",
            body: Body::Bytes(bytes),
            headers: Vec::new(),
        },
        Ok(Reply::File(file, len)) => Outgoing {
            status: 200,
            content_type: "application/octet-stream",
            body: Body::File(file, len),
            headers: Vec::new(),
        },
        Ok(Reply::Await(_)) => {
            reply_for_error(ApiError::Internal("a job's reply awaited twice".into()))
        }
        Ok(Reply::Empty) => Outgoing {
            status: 204,
            content_type: "application/json",
            body: Body::Bytes(Vec::new()),
            headers: Vec::new(),
        },
        Err(e) => reply_for_error(e),
    }
}
