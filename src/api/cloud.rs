//! Clouds: where a node runs when it is not on bare metal.

use super::resource::{aliased, field, Hooks, Kind, Resource};
use super::{ApiError, Ctx};

pub static CLOUD: Resource = Resource {
    kind: "cloud",
    table: "cloud",
    label: "Cloud",
    rename: &["newcloudname"],
    fields: &[
        field("type", Kind::Text),
        aliased("comment", "comments", Kind::Text),
    ],
    extra: &[],
    member: Some("SELECT name FROM node WHERE cloudid = ?1 ORDER BY name"),
    hooks: &CloudHooks,
};

struct CloudHooks;

impl Hooks for CloudHooks {
    fn before_delete(&self, ctx: &Ctx, id: i64, name: &str) -> Result<(), ApiError> {
        let users: Vec<String> = ctx
            .tx
            .prepare_cached("SELECT name FROM node WHERE cloudid = ?1 ORDER BY name LIMIT 10")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Err(ApiError::bad(format!(
                "cloud '{name}' is in use by {}",
                users.join(", ")
            )));
        }
        Ok(())
    }
}
