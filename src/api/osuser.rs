//! OS users and groups (`/config/osuser`, `/config/osgroup`); the model, over
//! the LDAP directory, is `cmdb::osuser`.

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::cmdb::osuser;
use crate::ldap::Directory;

fn directory<'a>(ctx: &'a Ctx) -> Result<&'a Directory, ApiError> {
    ctx.app.ldap.as_ref().ok_or_else(|| {
        ApiError::Unavailable("no directory is configured for OS users: set [LDAP] URI".into())
    })
}

/// `GET /config/osuser`, `GET /config/osuser/{name}`
pub fn users(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let out = osuser::users(directory(ctx)?, ctx.params.first().map(String::as_str))?;
    Reply::ok(json!({ "config": { "osuser": out } }))
}

/// `GET /config/osgroup`, `GET /config/osgroup/{name}`
pub fn groups(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let out = osuser::groups(directory(ctx)?, ctx.params.first().map(String::as_str))?;
    Reply::ok(json!({ "config": { "osgroup": out } }))
}

/// `POST /config/osuser/{name}`
pub fn update_user(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    osuser::check_name("user", &name)?;
    let obj = ctx.config_object("osuser", &name)?.clone();
    if osuser::update_user(directory(ctx)?, &name, &obj)? {
        Reply::created(format!("OS user {name} created"))
    } else {
        Reply::updated()
    }
}

/// `POST /config/osgroup/{name}`
pub fn update_group(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    osuser::check_name("group", &name)?;
    let obj = ctx.config_object("osgroup", &name)?.clone();
    if osuser::update_group(directory(ctx)?, &name, &obj)? {
        Reply::created(format!("OS group {name} created"))
    } else {
        Reply::updated()
    }
}

/// `GET /config/osuser/{name}/_delete`
pub fn delete_user(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    osuser::check_name("user", &name)?;
    osuser::delete_user(directory(ctx)?, &name)?;
    Reply::updated()
}

/// `GET /config/osgroup/{name}/_delete`
pub fn delete_group(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    osuser::check_name("group", &name)?;
    osuser::delete_group(directory(ctx)?, &name)?;
    Reply::updated()
}
