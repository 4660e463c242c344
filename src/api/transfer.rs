//! Export and import of the whole configuration.
//!
//! Export renders every resource exactly as its own list endpoint does, plus
//! tags, extra DNS records and secrets (the route needs a token).
//! Import applies such a document in one transaction through the same code as
//! the individual POSTs, so every value is validated as usual: either all of it
//! applies or nothing does, and the first invalid item is named. Values a
//! resource only inherited (its `_<field>_source` names another layer) are not
//! imported as its own.

use serde_json::{json, Map, Value};

use super::resource::{self, Verb};
use super::{cluster, ApiError, Ctx, Reply};
use crate::cmdb::json::Objects;
use crate::cmdb::resource::Resource;

/// In dependency order: what a resource refers to comes before it.
const ORDER: &[(&Resource, &str)] = &[
    (&crate::cmdb::network::NETWORK, "network"),
    (&crate::cmdb::osimage::OSIMAGE, "osimage"),
    (&crate::cmdb::bmcsetup::BMCSETUP, "bmcsetup"),
    (&crate::cmdb::cloud::CLOUD, "cloud"),
    (&crate::cmdb::device::SWITCH, "switch"),
    (&crate::cmdb::device::OTHERDEV, "otherdev"),
    (&crate::cmdb::group::GROUP, "group"),
    (&crate::cmdb::node::NODE, "node"),
    (&crate::cmdb::rack::RACK, "rack"),
];

/// Keys that only describe a rendered object.
const OUTPUT_ONLY: &[&str] = &[
    "name",
    "_override",
    "hostname",
    "tpm_present",
    "assigned_tags",
];

fn rendered(ctx: &Ctx, res: &Resource) -> Result<Value, ApiError> {
    let mut out = Objects::new(res.kind, 64 * 1024);
    res.hooks.render(ctx, res, None, &mut out)?;
    let doc: Value = serde_json::from_slice(&out.finish())
        .map_err(|e| ApiError::Internal(format!("export: {e}")))?;
    Ok(doc["config"][res.kind].clone())
}

/// `GET /config/cluster/export`
pub fn export(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let mut config = Map::new();
    config.insert(
        "cluster".into(),
        Value::Object(crate::cmdb::cluster::inheritable(ctx.tx)?),
    );
    for (res, key) in ORDER {
        config.insert(key.to_string(), rendered(ctx, res)?);
    }
    config.insert(
        "osimagetag".into(),
        Value::Object(crate::cmdb::osimage::tags_json(ctx, None)?),
    );
    let mut dns = Map::new();
    let mut stmt = ctx.tx.prepare_cached("SELECT n.name, d.host, d.ipaddress FROM dns d JOIN network n ON n.id = d.networkid ORDER BY n.name, d.host")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (net, host, ip) = row?;
        if let Some(list) = dns.entry(net).or_insert_with(|| json!([])).as_array_mut() {
            list.push(json!({ "host": host, "ipaddress": ip }));
        }
    }
    config.insert("dns".into(), Value::Object(dns));
    config.insert("secrets".into(), crate::cmdb::secrets::export(ctx)?);
    Reply::ok(json!({ "config": config }))
}

/// An exported object as a POST body: own values only.
fn postable(kind: &str, obj: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        if OUTPUT_ONLY.contains(&k.as_str()) || k.starts_with('_') {
            continue;
        }
        let source = obj.get(&format!("_{k}_source")).and_then(Value::as_str);
        if source.is_some_and(|s| s != kind) {
            continue;
        }
        if k == "interfaces" {
            out.insert(k.clone(), interfaces(v));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Interfaces as exported, made postable: rendering-only keys dropped, and
/// `force` so that an address assigned automatically a moment earlier yields.
fn interfaces(list: &Value) -> Value {
    let entries = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|i| {
            let mut e: Map<String, Value> = i
                .iter()
                .filter(|(k, _)| *k != "comment")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if e.get("ipaddress").is_some_and(|v| !v.is_null()) {
                e.insert("force".into(), Value::Bool(true));
            }
            Value::Object(e)
        });
    Value::Array(entries.collect())
}

/// `POST /config/cluster/import`
pub fn import(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let config = ctx.config_whole()?.clone();
    let named = |what: &str, e: ApiError| match e {
        ApiError::BadRequest(m) | ApiError::NotFound(m) => ApiError::bad(format!("{what}: {m}")),
        other => other,
    };
    if let Some(settings) = config.get("cluster").and_then(Value::as_object) {
        let settings: Map<String, Value> = settings
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ctx.body = Some(json!({ "config": { "cluster": settings } }));
        cluster::update(ctx).map_err(|e| named("cluster", e))?;
    }
    for (res, key) in ORDER {
        let Some(objects) = config.get(*key).and_then(Value::as_object) else {
            continue;
        };
        for (name, obj) in objects {
            let obj = obj
                .as_object()
                .ok_or_else(|| ApiError::bad(format!("{key} '{name}' must be an object")))?;
            ctx.params = vec![name.clone()];
            ctx.body = Some(json!({ "config": { *key: { name: postable(key, obj) } } }));
            resource::run(res, Verb::Post, ctx)
                .map_err(|e| named(&format!("{key} '{name}'"), e))?;
        }
        // Groups and nodes may pin tags: tags follow their images at once.
        if *key == "osimage" {
            if let Some(tags) = config.get("osimagetag").and_then(Value::as_object) {
                crate::cmdb::osimage::import_tags(ctx, tags)
                    .map_err(|e| named("osimagetag", e.into()))?;
            }
        }
    }
    for (net, entries) in config
        .get("dns")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        ctx.params = vec![net.clone()];
        ctx.body = Some(json!({ "config": { "dns": { net: entries } } }));
        super::dns::update(ctx).map_err(|e| named(&format!("dns '{net}'"), e))?;
    }
    if let Some(doc) = config.get("secrets") {
        crate::cmdb::secrets::import(ctx, doc).map_err(|e| named("secrets", e.into()))?;
    }
    Reply::created("Configuration imported")
}
