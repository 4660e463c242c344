//! What power control needs of the cluster: each node's BMC (the address of
//! its `BMC` interface, the BMC setup of the node or else of its group, with
//! the protocol and credentials), read for a whole hostlist in one query.

use rusqlite::params;
use serde_json::Value;

use super::{Error, Store};

/// The protocol a BMC is driven with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Ipmi,
    Redfish,
}

/// One node's BMC, ready to be driven.
#[derive(Clone, Debug)]
pub struct Bmc {
    pub node: String,
    pub address: String,
    pub port: Option<u16>,
    pub protocol: Protocol,
    pub username: String,
    /// Opened (unsealed); never logged, never placed on a command line.
    pub password: String,
}

/// Why a node's BMC cannot be driven.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// There is no such node.
    NoNode(String),
    /// The node exists; its BMC cannot be reached or logged into (why).
    NoBmc(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::NoNode(m) | Unusable::NoBmc(m) => f.write_str(m),
        }
    }
}

/// A node's BMC, or why it cannot be driven.
pub type Target = Result<Bmc, Unusable>;

/// The BMCs of `nodes`, in their order. A node that does not exist, has no
/// BMC interface with an address, or no BMC setup gets the reason instead.
pub fn targets(store: &Store, nodes: &[String]) -> Result<Vec<(String, Target)>, Error> {
    let names = Value::from(nodes.to_vec()).to_string();
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let mut found: std::collections::HashMap<String, Row> = store
        .tx
        .prepare_cached(
            "SELECT n.name,
                    (SELECT a.ipaddress FROM nodeinterface ni JOIN ipaddress a ON a.nodeinterfaceid = ni.id
                      WHERE ni.nodeid = n.id AND ni.interface = 'BMC' AND a.ipaddress IS NOT NULL LIMIT 1),
                    b.name, b.username, b.password, b.protocol, b.port
             FROM node n JOIN \"group\" g ON g.id = n.groupid
             LEFT JOIN bmcsetup b ON b.id = COALESCE(n.bmcsetupid, g.bmcsetupid)
             WHERE n.name IN (SELECT value FROM json_each(?1))",
        )?
        .query_map(params![names], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .map(|row| row.map(|row: Row| (row.0.clone(), row)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(nodes.len());
    for name in nodes {
        let target = match found.remove(name) {
            None => Err(Unusable::NoNode(format!("node {name} does not exist"))),
            Some((_, None, ..)) => Err(Unusable::NoBmc(format!(
                "node {name} has no BMC interface with an IP address"
            ))),
            Some((_, Some(_), None, ..)) => Err(Unusable::NoBmc(format!(
                "node {name} has no BMC setup (neither its own nor its group's)"
            ))),
            Some((_, Some(address), Some(setup), username, password, protocol, port)) => store
                .sealer
                .open(password.as_deref().unwrap_or(""))
                .map_err(|e| Unusable::NoBmc(format!("BMC setup {setup}: password: {e}")))
                .map(|password| Bmc {
                    node: name.clone(),
                    address,
                    port: port.and_then(|p| u16::try_from(p).ok()),
                    protocol: match protocol.as_deref() {
                        Some("redfish") => Protocol::Redfish,
                        _ => Protocol::Ipmi,
                    },
                    username: username.unwrap_or_default(),
                    password,
                }),
        };
        out.push((name.clone(), target));
    }
    Ok(out)
}
