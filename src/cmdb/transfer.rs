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

use super::json::Objects;
use super::resource::{self, Resource};
use super::{Error, Store};

/// In dependency order: what a resource refers to comes before it.
const ORDER: &[(&Resource, &str)] = &[
    (&super::network::NETWORK, "network"),
    (&super::osimage::OSIMAGE, "osimage"),
    (&super::bmcsetup::BMCSETUP, "bmcsetup"),
    (&super::cloud::CLOUD, "cloud"),
    (&super::device::SWITCH, "switch"),
    (&super::device::OTHERDEV, "otherdev"),
    (&super::group::GROUP, "group"),
    (&super::node::NODE, "node"),
    (&super::rack::RACK, "rack"),
];

/// Keys that only describe a rendered object.
const OUTPUT_ONLY: &[&str] = &[
    "name",
    "_override",
    "hostname",
    "tpm_present",
    "assigned_tags",
];

fn rendered(store: &Store, res: &Resource) -> Result<Value, Error> {
    let mut out = Objects::new(res.kind, 64 * 1024);
    res.hooks.render(store, res, None, &mut out)?;
    let doc: Value = serde_json::from_slice(&out.finish())
        .map_err(|e| Error::Internal(format!("export: {e}")))?;
    Ok(doc["config"][res.kind].clone())
}

/// The whole configuration, secrets included, as `{"config": {...}}`.
pub fn export(store: &Store) -> Result<Value, Error> {
    let mut config = Map::new();
    config.insert(
        "cluster".into(),
        Value::Object(super::cluster::inheritable(store.tx)?),
    );
    for (res, key) in ORDER {
        config.insert(key.to_string(), rendered(store, res)?);
    }
    config.insert(
        "osimagetag".into(),
        Value::Object(super::osimage::tags_json(store, None)?),
    );
    let mut dns = Map::new();
    let mut stmt = store.tx.prepare_cached("SELECT n.name, d.host, d.ipaddress FROM dns d JOIN network n ON n.id = d.networkid ORDER BY n.name, d.host")?;
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
    config.insert("secrets".into(), super::secrets::export(store)?);
    Ok(json!({ "config": config }))
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

/// Applies an exported configuration (`config`, the object under "config"),
/// each object through the same model code as its own POST; the first
/// invalid item is named.
pub fn import(store: &Store, config: &Map<String, Value>) -> Result<(), Error> {
    let named = |what: &str, e: Error| match e {
        Error::Invalid(m) | Error::NotFound(m) => Error::invalid(format!("{what}: {m}")),
        other => other,
    };
    // Every section is one the export writes, in the shape it writes it.
    for (key, value) in config {
        let known = ORDER.iter().any(|(_, k)| k == key)
            || ["cluster", "osimagetag", "dns", "secrets"].contains(&key.as_str());
        if !known {
            return Err(Error::invalid(format!(
                "'config.{key}' is not a section of an export"
            )));
        }
        if !value.is_object() {
            return Err(Error::invalid(format!("'config.{key}' must be an object")));
        }
    }
    if let Some(settings) = config.get("cluster").and_then(Value::as_object) {
        let settings: Map<String, Value> = settings
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !settings.is_empty() {
            super::cluster::update(store, &settings).map_err(|e| named("cluster", e))?;
        }
    }
    for (res, key) in ORDER {
        let Some(objects) = config.get(*key).and_then(Value::as_object) else {
            continue;
        };
        for (name, obj) in objects {
            let obj = obj
                .as_object()
                .ok_or_else(|| Error::invalid(format!("{key} '{name}' must be an object")))?;
            let body = postable(key, obj);
            // An object with nothing to set that exists already is as imported.
            if body.is_empty() && resource::lookup_id(store.tx, res.table, name)?.is_some() {
                continue;
            }
            resource::post(store, res, name, &body)
                .map_err(|e| named(&format!("{key} '{name}'"), e))?;
        }
        // Groups and nodes may pin tags: tags follow their images at once.
        if *key == "osimage" {
            if let Some(tags) = config.get("osimagetag").and_then(Value::as_object) {
                super::osimage::import_tags(store, tags).map_err(|e| named("osimagetag", e))?;
            }
        }
    }
    for (net, entries) in config
        .get("dns")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let entries = entries.as_array().ok_or_else(|| {
            Error::invalid(format!(
                "dns '{net}': expected a list at 'config.dns.{net}'"
            ))
        })?;
        super::dns::upsert(store, net, entries).map_err(|e| named(&format!("dns '{net}'"), e))?;
    }
    if let Some(doc) = config.get("secrets") {
        super::secrets::import(store, doc).map_err(|e| named("secrets", e))?;
    }
    Ok(())
}
