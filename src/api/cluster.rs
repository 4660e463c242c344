//! The cluster object (`/config/cluster`); the model is `cmdb::cluster`.

use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::cluster::{controllers, inheritable, CLUSTER, FIELDS};
use crate::cmdb::resource;

/// `GET /config/cluster`
pub fn show(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut obj = inheritable(ctx.tx)?;
    for (key, entry) in controllers(ctx)? {
        obj.insert(key, entry);
    }
    Reply::ok(json!({ "config": { "cluster": obj } }))
}

/// `POST /config/cluster`: settings only; controller entries are refused.
pub fn update(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let obj = ctx
        .config_section("cluster")?
        .as_object()
        .ok_or_else(|| ApiError::bad("'config.cluster' must be an object"))?
        .clone();
    let controller_keys: Vec<String> = controllers(ctx)?
        .into_iter()
        .map(|(k, v)| {
            let hostname = v
                .get("hostname")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if k == "controller" {
                hostname
            } else {
                k
            }
        })
        .collect();
    for (key, value) in &obj {
        if key == "controller" || controller_keys.contains(key) || value.is_object() {
            return Err(ApiError::bad(format!(
                "controller '{key}' cannot be modified through /config/cluster"
            )));
        }
        if key == "name" {
            continue;
        }
        if !FIELDS.iter().any(|f| f.name == key) {
            return Err(ApiError::bad(format!("unknown field '{key}' for cluster")));
        }
    }
    let cols = resource::convert_fields(ctx.tx, &CLUSTER, &obj)?;
    let new_name = match obj.get("name") {
        Some(Value::String(n)) if !n.is_empty() => Some(n.as_str()),
        Some(v) => return Err(ApiError::bad(format!("invalid cluster name '{v}'"))),
        None => None,
    };
    resource::update(ctx.tx, &CLUSTER, 1, new_name, &cols)?;
    Reply::updated()
}
