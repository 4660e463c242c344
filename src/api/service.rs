//! Service control: reloads with a cooldown, their status messages, and the
//! state of the services luna2d drives.
//!
//! Every reload is recorded under a request id; `GET /service/status/{id}`
//! answers the messages not yet read and marks them read. A second reload of the
//! same service within `[SERVICES] COOLDOWN` does nothing: while the first is
//! still under way it answers 200 with the first one's request id ("already
//! queued", as upstream), once that has ended it answers 204 (the spec's
//! "in cooldown").

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::gen::Service;

/// When each service was last reloaded, and under which request id, for the
/// cooldown.
#[derive(Default)]
pub struct Cooldowns {
    last: Mutex<HashMap<String, (Instant, String)>>,
}

impl Cooldowns {
    /// Records `request_id` as `service`'s reload now, unless one was recorded
    /// within `cooldown`: then answers that one's request id.
    fn try_start(&self, service: &str, cooldown: Duration, request_id: &str) -> Option<String> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match last.get(service) {
            Some((t, id)) if now.duration_since(*t) < cooldown => Some(id.clone()),
            _ => {
                last.insert(service.to_string(), (now, request_id.to_string()));
                None
            }
        }
    }
}

const SERVICES: &[&str] = &["dhcp", "dns", "luna2"];

/// A new request id: 16 random hex digits.
pub fn request_id() -> Result<String, ApiError> {
    crate::util::random_hex(8).map_err(|e| ApiError::Internal(format!("random: {e}")))
}

/// Records one status message of a request.
/// `GET /service/{name}/reload`
pub fn reload(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    if !SERVICES.contains(&name.as_str()) {
        return Err(ApiError::not_found(format!(
            "unknown service '{name}': one of {}",
            SERVICES.join(", ")
        )));
    }
    let id = request_id()?;
    if let Some(previous) = ctx
        .app
        .cooldowns
        .try_start(&name, ctx.app.config.cooldown, &id)
    {
        let pending = matches!(name.as_str(), "dhcp" | "dns") && !ctx.app.regen.ended(&previous);
        if pending {
            return Ok(Reply::Json(
                200,
                json!({ "message": format!("{name} reload already queued"), "request_id": previous }),
            ));
        }
        return Ok(Reply::Empty);
    }
    let service = match name.as_str() {
        "dhcp" => Some(Service::Dhcp),
        "dns" => Some(Service::Dns),
        _ => None,
    };
    if let Some(service) = service {
        // Regenerated, validated and reloaded by the background job, which adds
        // its outcome to this request's messages.
        crate::cmdb::status::add(
            ctx.tx,
            &id,
            200,
            &format!("queued regeneration and reload of {name}"),
        )?;
        ctx.app.regen.request(service, Some(id.clone()));
        return Ok(Reply::Json(
            200,
            json!({ "message": format!("{name} reload queued"), "request_id": id }),
        ));
    }
    crate::cmdb::status::add(ctx.tx, &id, 200, "reloading luna2 templates")?;
    match ctx.app.templates.reload() {
        Ok(()) => crate::cmdb::status::add(ctx.tx, &id, 200, "luna2 templates reloaded")?,
        Err(e) => {
            // Keep the failure on record; the old templates stay in use.
            crate::cmdb::status::add(
                ctx.tx,
                &id,
                500,
                &format!("reload failed, previous templates kept: {e}"),
            )?;
            return Ok(Reply::Json(
                500,
                json!({ "message": format!("reload failed: {e}"), "request_id": id }),
            ));
        }
    }
    Ok(Reply::Json(
        200,
        json!({ "message": "luna2 reloaded", "request_id": id }),
    ))
}

/// `GET /service/status/{request_id}`: the unread messages, once.
pub fn status(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let id = ctx.param(0).to_string();
    let rows = crate::cmdb::status::take_unread(ctx.tx, &id)?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("no data for request {id}")));
    }
    let message: Vec<String> = rows
        .iter()
        .map(|m| format!("{} :: {}", m.created, m.message))
        .collect();
    let status = rows
        .iter()
        .rev()
        .find(|m| m.status != 200)
        .map(|m| m.status)
        .unwrap_or(200);
    Reply::ok(json!({ "message": message.join(";;"), "status": status }))
}

/// `GET /monitor/service/{name}`
pub fn monitor(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    match name.as_str() {
        // This answer comes from luna2d itself, with its database reachable.
        "luna2" => Ok(Reply::Json(
            200,
            json!({ "monitor": { "service": { "luna2": "OK" } } }),
        )),
        "dhcp" | "dns" => {
            let service = if name == "dhcp" {
                Service::Dhcp
            } else {
                Service::Dns
            };
            let unit = ctx.app.config.service_unit(&name);
            let (code, state) = if let Some(e) = ctx.app.regen.last_error(service) {
                (500, format!("FAIL, configuration rejected: {e}"))
            } else if ctx.app.config.service_command.is_empty() {
                (
                    200,
                    "OK, configuration written; no service command is configured".to_string(),
                )
            } else {
                match crate::services::status(&ctx.app.config, &unit) {
                    Ok(true) => (200, "OK, running".to_string()),
                    Ok(false) => (500, "FAIL, not running".to_string()),
                    Err(e) => (500, format!("FAIL, {e}")),
                }
            };
            Ok(Reply::Json(
                code,
                json!({ "monitor": { "service": { name: state } } }),
            ))
        }
        other => Err(ApiError::not_found(format!(
            "unknown service '{other}': one of {}",
            SERVICES.join(", ")
        ))),
    }
}
