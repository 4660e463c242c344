//! The HA journal: changes accepted on the master, kept per peer until the
//! peer acknowledged them, and on each controller the last entry applied from
//! each sender (so an entry applies exactly once); and this controller's role.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};

use super::{Error, Store};

/// One change to send: the request as the API received it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: i64,
    pub sendby: String,
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// Records a change for each of `peers`, in the change's transaction. The
/// body is sealed: it may carry secrets, passwords or a BMC password.
pub fn record(
    store: &Store,
    peers: &[String],
    sendby: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), Error> {
    let body = store.sealer.seal_bytes(body).map_err(Error::Internal)?;
    let mut stmt = store.tx.prepare_cached(
        "INSERT INTO journal (sendfor, sendby, method, path, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for peer in peers {
        stmt.execute(params![peer, sendby, method, path, body])?;
    }
    Ok(())
}

/// Up to `limit` entries waiting for `peer`, oldest first, bodies opened.
pub fn pending(store: &Store, peer: &str, limit: usize) -> Result<Vec<Entry>, Error> {
    let mut rows: Vec<Entry> = store
        .tx
        .prepare_cached(
            "SELECT id, sendby, method, path, body FROM journal WHERE sendfor = ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![peer, limit as i64], |r| {
            Ok(Entry {
                id: r.get(0)?,
                sendby: r.get(1)?,
                method: r.get(2)?,
                path: r.get(3)?,
                body: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    for e in &mut rows {
        e.body = store
            .sealer
            .open_bytes(&e.body)
            .map_err(|m| Error::Internal(format!("journal entry {}: {m}", e.id)))?;
    }
    Ok(rows)
}

/// Drops `peer`'s entries up to `id` (acknowledged). Answers how many.
pub fn acknowledge(tx: &Transaction, peer: &str, id: i64) -> Result<usize, Error> {
    Ok(tx.execute(
        "DELETE FROM journal WHERE sendfor = ?1 AND id <= ?2",
        params![peer, id],
    )?)
}

/// `GET /journal/{host}`: the entries waiting for `host`, as JSON.
pub fn list(tx: &Transaction, host: &str) -> Result<Vec<Value>, Error> {
    let rows = tx
        .prepare_cached(
            "SELECT id, sendfor, sendby, method, path, length(body), created FROM journal
             WHERE sendfor = ?1 ORDER BY id",
        )?
        .query_map([host], |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "sendfor": r.get::<_, String>(1)?,
                "sendby": r.get::<_, String>(2)?,
                "function": format!("{} {}", r.get::<_, String>(3)?, r.get::<_, String>(4)?),
                "bytes": r.get::<_, i64>(5)?,
                "created": r.get::<_, String>(6)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// `GET /journal/{host}/_delete`: answers how many entries went.
pub fn delete_for(tx: &Transaction, host: &str) -> Result<usize, Error> {
    Ok(tx.execute("DELETE FROM journal WHERE sendfor = ?1", [host])?)
}

/// The last entry from `sendby` applied here.
pub fn applied(tx: &Transaction, sendby: &str) -> Result<i64, Error> {
    Ok(tx
        .prepare_cached("SELECT last_id FROM journalapplied WHERE sendby = ?1")?
        .query_row([sendby], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Marks entry `id` from `sendby` applied, in the transaction that applied it.
pub fn mark_applied(tx: &Transaction, sendby: &str, id: i64) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO journalapplied (sendby, last_id) VALUES (?1, ?2)
         ON CONFLICT(sendby) DO UPDATE SET last_id = excluded.last_id",
    )?
    .execute(params![sendby, id])?;
    Ok(())
}

/// This controller's HA record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub master: bool,
    pub insync: bool,
    pub overrule: bool,
    pub updated: String,
}

/// The recorded role, `default_master` when none was recorded yet.
pub fn role(tx: &Transaction, default_master: bool) -> Result<Role, Error> {
    tx.execute(
        "INSERT INTO hastate (id, master) VALUES (1, ?1) ON CONFLICT(id) DO NOTHING",
        [default_master],
    )?;
    Ok(tx.query_row(
        "SELECT master, insync, overrule, updated FROM hastate WHERE id = 1",
        [],
        |r| {
            Ok(Role {
                master: r.get(0)?,
                insync: r.get(1)?,
                overrule: r.get(2)?,
                updated: r.get(3)?,
            })
        },
    )?)
}

/// Records a role change.
pub fn set_role(tx: &Transaction, master: bool, insync: bool, overrule: bool) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO hastate (id, master, insync, overrule) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET master = excluded.master, insync = excluded.insync,
             overrule = excluded.overrule, updated = strftime('%Y-%m-%d %H:%M:%f', 'now')",
        params![master, insync, overrule],
    )?;
    Ok(())
}
