//! The BIND configuration: an include file with one forward zone per network
//! (named after the network, as upstream does) and one reverse zone per /24 in
//! use, plus the zone files. Records: the controller in every zone, each node
//! interface, controller, switch and other device address under its owner's
//! name, and the extra records of `/config/dns/{network}`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use rusqlite::OptionalExtension;
use serde_json::{json, Value};

use super::Daemon;
use super::{argv, Check, Output};
use crate::cmdb::network::{DEVICE, DEVICE_JOINS};
use crate::cmdb::{Error, Store};

struct Zone {
    /// `(name, type, value)`, in insertion order; the first owner of a name wins.
    records: Vec<(String, &'static str, String)>,
}

impl Zone {
    fn add(&mut self, name: &str, kind: &'static str, value: String) {
        if !self.records.iter().any(|(n, k, _)| n == name && *k == kind) {
            self.records.push((name.to_string(), kind, value));
        }
    }
}

/// Renders every zone with SOA serial `serial` (see `next_serial`).
/// Errors are messages for the log and `/monitor/service/dns`.
pub fn generate(
    store: &Store,
    app: &dyn Daemon,
    serial: u32,
) -> Result<(Vec<Output>, Vec<Check>), String> {
    zones(store, app, serial).map_err(|e| match e {
        Failure::Model(e) => e.to_string(),
        Failure::Template(m) => m,
    })
}

enum Failure {
    Model(Error),
    Template(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Model(e)
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Model(e.into())
    }
}

fn zones(
    store: &Store,
    app: &dyn Daemon,
    serial: u32,
) -> Result<(Vec<Output>, Vec<Check>), Failure> {
    let tx = store.tx;
    let cfg = store.config;
    let (controller, controller_ip, controller_zone): (String, String, String) = tx
        .query_row(
            "SELECT c.name, a.ipaddress, n.name FROM controller c JOIN ipaddress a ON a.controllerid = c.id
             JOIN network n ON n.id = a.networkid ORDER BY c.beacon DESC, c.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| Error::Internal(format!("the controller has no address: {e}")))?;

    let mut forward: BTreeMap<String, Zone> = BTreeMap::new();
    let networks: Vec<(i64, String)> = tx
        .prepare_cached("SELECT id, name FROM network ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (_, name) in &networks {
        let mut zone = Zone {
            records: Vec::new(),
        };
        zone.add(&controller, "A", controller_ip.clone());
        forward.insert(name.clone(), zone);
    }
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT n.name, a.ipaddress, {DEVICE} FROM ipaddress a JOIN network n ON n.id = a.networkid {DEVICE_JOINS}
         WHERE a.ipaddress IS NOT NULL ORDER BY n.name, a.controllerid IS NULL, a.ipnum"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut reverse: BTreeMap<String, Zone> = BTreeMap::new();
    for row in rows {
        let (net, ip, owner) = row?;
        let Ok(addr) = ip.parse::<Ipv4Addr>() else {
            continue;
        };
        if let Some(zone) = forward.get_mut(&net) {
            zone.add(&owner, "A", ip.clone());
        }
        let o = addr.octets();
        let rev = format!("{}.{}.{}.in-addr.arpa", o[2], o[1], o[0]);
        reverse
            .entry(rev)
            .or_insert(Zone {
                records: Vec::new(),
            })
            .add(&o[3].to_string(), "PTR", format!("{owner}.{net}."));
    }
    let mut stmt = tx.prepare_cached(
        "SELECT n.name, d.host, d.ipaddress FROM dns d JOIN network n ON n.id = d.networkid ORDER BY d.id",
    )?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (net, host, ip) = row?;
        let kind = if ip.contains(':') { "AAAA" } else { "A" };
        if let Some(zone) = forward.get_mut(&net) {
            zone.add(&host, kind, ip);
        }
    }

    let templates = app.templates().get();
    let mut outputs = Vec::new();
    let mut checks = Vec::new();
    let mut listed = Vec::new();
    let zones = forward
        .iter()
        .map(|(name, z)| (name.clone(), z, format!("{controller}.{name}")))
        .chain(
            reverse
                .iter()
                .map(|(name, z)| (name.clone(), z, format!("{controller}.{controller_zone}"))),
        );
    for (name, zone, ns) in zones {
        let records: Vec<Value> = zone
            .records
            .iter()
            .map(|(n, k, v)| json!({ "name": n, "type": k, "value": v }))
            .collect();
        let content = templates
            .render(
                "templ_dns_zone.cfg",
                json!({ "zone": name, "ns": ns, "serial": serial, "records": records }),
            )
            .map_err(Failure::Template)?;
        let path = cfg.dns_zone_directory.join(format!("{name}.luna.zone"));
        listed.push(json!({ "name": name, "file": path.display().to_string() }));
        let check = argv(&cfg.dns_checkzone);
        if !check.is_empty() {
            let mut args = check;
            args.push(name.clone());
            args.push("{}".into());
            checks.push(Check {
                argv: args,
                file: outputs.len(),
            });
        }
        outputs.push(Output { path, content });
    }
    let include = templates
        .render("templ_dns_zones_conf.cfg", json!({ "zones": listed }))
        .map_err(Failure::Template)?;
    let checkconf = argv(&cfg.dns_checkconf);
    if !checkconf.is_empty() {
        let mut args = checkconf;
        args.push("{}".into());
        checks.push(Check {
            argv: args,
            file: outputs.len(),
        });
    }
    // The include goes last: it is installed only after every zone file it names.
    outputs.push(Output {
        path: cfg.dns_config.clone(),
        content: include,
    });
    Ok((outputs, checks))
}

/// The SOA serial: the current time in seconds, or one more than the last
/// serial when that is larger, so that it grows on every regeneration. Stored
/// in its own short write transaction.
pub fn next_serial(tx: &rusqlite::Transaction) -> Result<u32, Error> {
    let last: Option<String> = tx
        .query_row(
            "SELECT value FROM setting WHERE key = 'dns_serial'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let last: u32 = last.and_then(|s| s.parse().ok()).unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let serial = now.max(last.wrapping_add(1));
    tx.execute(
        "INSERT INTO setting (key, value) VALUES ('dns_serial', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [serial.to_string()],
    )?;
    Ok(serial)
}
