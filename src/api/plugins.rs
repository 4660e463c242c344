//! `GET /export/{name}` (no token, the query passed through) and
//! `POST /import/{name}` (token): the exporters and importers of
//! `crate::plugins`. An unknown or not allowed plugin is a 404.

use super::{ApiError, Ctx, Reply};
use crate::gen::Service;
use crate::plugins::{self, Refused, Source};

/// `GET /export/{name}`
pub fn export(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let exporter = plugins::exporter(&ctx.app.config, &name).ok_or_else(|| {
        ApiError::not_found(format!("no exporter '{name}' (or it is not allowed)"))
    })?;
    let services = [Service::Dhcp, Service::Dns]
        .into_iter()
        .map(|s| (s.name(), ctx.app.regen.last_error(s).is_none()))
        .collect();
    let src = Source {
        store: &ctx.store,
        metrics: &ctx.app.metrics,
        services,
    };
    let out = exporter
        .export(&src, &ctx.req.query)
        .map_err(ApiError::Internal)?;
    Ok(Reply::Typed(200, out.content_type, out.body))
}

/// `POST /import/{name}`
pub fn import(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let importer = plugins::importer(&ctx.app.config, &name).ok_or_else(|| {
        ApiError::not_found(format!("no importer '{name}' (or it is not allowed)"))
    })?;
    match importer.import(&ctx.app.config, &ctx.req.body) {
        Ok(v) => Reply::ok(v),
        Err(Refused::Invalid(m)) => Err(ApiError::bad(m)),
        Err(Refused::Failed(m)) => Err(ApiError::Internal(m)),
    }
}
