//! Rack inventory handlers; the model is `cmdb::rack`.

use serde_json::{json, Value};

use super::{ApiError, Ctx, Reply};
use crate::cmdb::rack::{inventory, place, unplace, upsert_entry, RACK};

/// `POST /config/rack/inventory`
pub fn update_inventory(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let list = ctx
        .config_section("rack")?
        .get("inventory")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad("expected a list at 'config.rack.inventory'"))?
        .clone();
    if list.is_empty() {
        return Err(ApiError::bad(
            "no data: 'config.rack.inventory' lists no device",
        ));
    }
    let mut created = false;
    for item in &list {
        let obj = item
            .as_object()
            .ok_or_else(|| ApiError::bad("each inventory entry must be an object"))?;
        created |= upsert_entry(ctx.tx, obj)?;
        // A new height must still fit where the device is placed.
        if let Some(rack) = obj.get("rack").and_then(Value::as_str) {
            let rack_id = crate::cmdb::resource::require_id(ctx.tx, &RACK, rack)?;
            place(ctx.tx, rack_id, obj)?;
        }
    }
    if created {
        Reply::created("Inventory information updated")
    } else {
        Reply::updated()
    }
}

/// `GET /config/rack/inventory` and `/config/rack/inventory/{configured|unconfigured}`
pub fn list_inventory(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let subset = match ctx.params.first().map(String::as_str) {
        None => None,
        Some("configured") => Some(true),
        Some("unconfigured") => Some(false),
        Some(other) => {
            return Err(ApiError::not_found(format!(
                "no inventory subset '{other}': configured or unconfigured"
            )))
        }
    };
    let list: Vec<Value> = inventory(ctx.tx, None, subset)?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    Reply::ok(json!({ "config": { "rack": { "inventory": list } } }))
}

/// `GET /config/rack/inventory/{name}/type/{type}/_delete`: takes the device
/// out of its rack (its inventory entry stays).
pub fn clear_inventory(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    let kind = ctx.param(1).to_string();
    unplace(ctx, &name, &kind)?;
    Reply::created("Inventory cleared")
}
