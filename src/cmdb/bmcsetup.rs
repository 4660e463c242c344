//! BMC setups: the credentials, channels and protocol of nodes' BMCs.
//! Passwords are answered only with a token, like everything under /config,
//! and are stored sealed (`secrets::Sealer`, the node secrets' key): sealed
//! as they are written, opened as they are rendered or used.

use rusqlite::types::Value as Sql;
use serde_json::{Map, Value};

use super::group::UNMANAGED_BMC_USERS;
use super::resource::{aliased, field, set_defaults, Columns, Field, Hooks, Kind, Resource, Row};
use super::{Error, Store};
use crate::secrets::Sealer;

pub static BMCSETUP: Resource = Resource {
    kind: "bmcsetup",
    table: "bmcsetup",
    label: "BMC setup",
    rename: &["newbmcname"],
    fields: FIELDS,
    extra: &[],
    member: Some(
        "SELECT n.name FROM node n JOIN \"group\" g ON g.id = n.groupid
         WHERE COALESCE(n.bmcsetupid, g.bmcsetupid) = ?1 ORDER BY n.name",
    ),
    users: Some("SELECT 'group ' || name FROM \"group\" WHERE bmcsetupid = ?1 UNION ALL SELECT 'node ' || name FROM node WHERE bmcsetupid = ?1 LIMIT 11"),
    hooks: &BmcHooks,
};

static FIELDS: &[Field] = &[
    field("userid", Kind::Int { min: 1, max: 63 }),
    field("username", Kind::Text),
    field("password", Kind::Text),
    field("netchannel", Kind::Int { min: 0, max: 15 }),
    field("mgmtchannel", Kind::Int { min: 0, max: 15 }),
    field("unmanaged_bmc_users", Kind::Choice(UNMANAGED_BMC_USERS)),
    field("protocol", Kind::Choice(PROTOCOLS)),
    field("port", Kind::Int { min: 1, max: 65535 }),
    aliased("comment", "comments", Kind::Text),
];

/// How a BMC is driven (`power::`): IPMI over LAN, or Redfish over HTTPS.
pub const PROTOCOLS: &[&str] = &["ipmi", "redfish"];

struct BmcHooks;

impl Hooks for BmcHooks {
    fn before_write(
        &self,
        store: &Store,
        _name: &str,
        id: Option<i64>,
        _obj: &Map<String, Value>,
        cols: &mut Columns,
    ) -> Result<(), Error> {
        if id.is_none() {
            // Upstream's defaults; the password is random rather than a known one.
            let password =
                crate::util::random_hex(8).map_err(|e| Error::Internal(format!("random: {e}")))?;
            set_defaults(
                FIELDS,
                cols,
                [
                    ("userid", Sql::Integer(2)),
                    ("username", Sql::Text("luna".into())),
                    ("password", Sql::Text(password)),
                    ("netchannel", Sql::Integer(1)),
                    ("mgmtchannel", Sql::Integer(1)),
                    ("protocol", Sql::Text("ipmi".into())),
                ],
            );
        }
        for (f, v) in cols.iter_mut() {
            if f.name == "password" {
                if let Sql::Text(plain) = v {
                    *v = Sql::Text(store.sealer.seal(plain).map_err(Error::Internal)?);
                }
            }
        }
        Ok(())
    }

    fn decorate(
        &self,
        store: &Store,
        _row: &Row,
        obj: &mut Map<String, Value>,
    ) -> Result<(), Error> {
        if let Some(Value::String(stored)) = obj.get("password") {
            let plain = store
                .sealer
                .open(stored)
                .map_err(|e| Error::Internal(format!("BMC password: {e}")))?;
            obj.insert("password".into(), Value::String(plain));
        }
        Ok(())
    }
}

/// Seals every BMC password still stored in the clear (written before they
/// were sealed); answers how many. Nothing to do with sealing turned off.
pub fn seal_stored(db: &mut rusqlite::Connection, sealer: &Sealer) -> Result<usize, Error> {
    let tx = db.transaction()?;
    let clear: Vec<(i64, String)> = tx
        .prepare("SELECT id, password FROM bmcsetup WHERE password IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|(_, p): &(i64, String)| !Sealer::is_sealed(p))
        .collect();
    let mut sealed = 0;
    for (id, plain) in clear {
        let stored = sealer.seal(&plain).map_err(Error::Internal)?;
        if stored != plain {
            tx.execute(
                "UPDATE bmcsetup SET password = ?2 WHERE id = ?1",
                rusqlite::params![id, stored],
            )?;
            sealed += 1;
        }
    }
    tx.commit()?;
    Ok(sealed)
}
