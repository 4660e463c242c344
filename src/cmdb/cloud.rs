//! Clouds: where a node runs when it is not on bare metal.

use super::resource::{aliased, field, Hooks, Kind, Resource};

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
    users: Some("SELECT name FROM node WHERE cloudid = ?1 ORDER BY name LIMIT 11"),
    hooks: &CloudHooks,
};

struct CloudHooks;

impl Hooks for CloudHooks {}
