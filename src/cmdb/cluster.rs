//! The cluster: one row of settings, plus the controllers shown beside them.
//! Only the settings change through the API; controller entries are read-only.

use serde_json::{json, Map, Value};

use super::group::PROVISION_METHODS;
use super::resource::{self, fetch_rows, field, row_json, Field, Kind, Plain, Resource};
use super::{Error, Store};
use crate::config::Config;

/// Described like the name-keyed resources so that validation and SQL are shared;
/// it is not routed through the generic verbs.
pub static CLUSTER: Resource = Resource {
    kind: "cluster",
    table: "cluster",
    label: "Cluster",
    rename: &[],
    fields: FIELDS,
    extra: &[],
    member: None,
    users: None,
    hooks: &Plain,
};

pub static FIELDS: &[Field] = &[
    field("user", Kind::Text),
    field("domain_search", Kind::Text),
    field("nameserver_ip", Kind::IpList),
    field("forwardserver_ip", Kind::IpList),
    field("ntp_server", Kind::IpList),
    field("technical_contacts", Kind::Text),
    field("provision_method", Kind::Choice(PROVISION_METHODS)),
    field("provision_fallback", Kind::Choice(PROVISION_METHODS)),
    field("debug", Kind::Bool),
    field("security", Kind::Bool),
    field("packing_bootpause", Kind::Bool),
    field("createnode_ondemand", Kind::Bool),
    field("createnode_macashost", Kind::Bool),
    field("nextnode_discover", Kind::Bool),
    field("bind_legacy", Kind::Bool),
    field("dnssec_enable", Kind::Bool),
    field("dnssec_validation", Kind::Bool),
];

/// The cluster values groups and nodes inherit.
pub fn inheritable(tx: &rusqlite::Transaction) -> Result<Map<String, Value>, Error> {
    Ok(fetch_rows(tx, &CLUSTER, Some(1))?
        .first()
        .map(|row| row_json(&CLUSTER, row))
        .unwrap_or_default())
}

pub fn controllers(store: &Store) -> Result<Vec<(String, Value)>, Error> {
    let mut stmt = store.tx.prepare_cached(
        "SELECT c.name, c.beacon, c.status, c.vendor, c.serverport, a.ipaddress, n.name
         FROM controller c LEFT JOIN ipaddress a ON a.controllerid = c.id LEFT JOIN network n ON n.id = a.networkid
         ORDER BY c.beacon DESC, c.name",
    )?;
    let cfg: &Config = store.config;
    let config_path = cfg.data_dir.join("luna.ini").to_string_lossy().into_owned();
    let rows = stmt.query_map([], |r| {
        let name: String = r.get(0)?;
        let beacon: bool = r.get::<_, i64>(1)? != 0;
        let address: Option<String> = r.get(5)?;
        // `ipaddr` is the spec's name, `ipaddress` upstream's (the CLI's).
        let entry = json!({
            "hostname": name,
            "status": r.get::<_, Option<String>>(2)?,
            "vendor": r.get::<_, Option<String>>(3)?,
            "serverport": r.get::<_, Option<i64>>(4)?,
            "ipaddr": address,
            "ipaddress": address,
            "network": r.get::<_, Option<String>>(6)?,
            "luna_config": config_path,
        });
        Ok((
            if beacon {
                "controller".to_string()
            } else {
                name
            },
            entry,
        ))
    })?;
    let mut out: Vec<(String, Value)> = rows.collect::<Result<_, _>>()?;
    // The other controllers of HA (`[HA] PEERS`), beside the ones of the
    // database: with them listed, two or more controllers mean HA is on.
    if !cfg.ha_peers.is_empty() {
        let role = super::journal::role(store.tx, cfg.ha_master)?;
        if let Some((_, own)) = out.iter_mut().find(|(k, _)| k == "controller") {
            own["status"] = json!(if role.master { "master" } else { "shadow" });
        }
    }
    for peer in &cfg.ha_peers {
        if out.iter().any(|(k, _)| *k == peer.name) {
            continue;
        }
        let ip = peer.addr.ip().to_string();
        out.push((
            peer.name.clone(),
            json!({
                "hostname": peer.name,
                "status": "peer",
                "vendor": null,
                "serverport": peer.addr.port(),
                "ipaddr": ip,
                "ipaddress": ip,
                "network": null,
                "luna_config": null,
            }),
        ));
    }
    Ok(out)
}

/// Changes cluster settings (`obj` as posted); controller entries are refused.
pub fn update(store: &Store, obj: &Map<String, Value>) -> Result<(), Error> {
    if obj.is_empty() {
        return Err(Error::invalid(
            "no data: the request names no cluster setting to change",
        ));
    }
    let controller_keys: Vec<String> = controllers(store)?
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
    for (key, value) in obj {
        if key == "controller" || controller_keys.contains(key) || value.is_object() {
            return Err(Error::invalid(format!(
                "controller '{key}' cannot be modified through /config/cluster"
            )));
        }
        if key == "name" {
            continue;
        }
        if !FIELDS.iter().any(|f| f.name == key) {
            return Err(Error::invalid(format!("unknown field '{key}' for cluster")));
        }
    }
    let cols = resource::convert_fields(store.tx, &CLUSTER, obj)?;
    let new_name = match obj.get("name") {
        Some(Value::String(n)) if !n.is_empty() => Some(n.as_str()),
        Some(v) => return Err(Error::invalid(format!("invalid cluster name '{v}'"))),
        None => None,
    };
    resource::update(store.tx, &CLUSTER, 1, new_name, &cols)?;
    Ok(())
}
