//! Status messages by request id: what an asynchronous request (a service
//! reload, a regeneration, a job) reports, for its requester to poll. A
//! control job also records each node's outcome (`node`, `outcome`).

use rusqlite::{params, Transaction};
use serde_json::{json, Value};

use super::Error;

/// One message as a poll returns it.
#[derive(Debug, Clone)]
pub struct Message {
    pub created: String,
    pub message: String,
    pub status: u16,
    /// For a node's outcome: the node and its bucket (`on`, `off`, `ok`,
    /// `failed`).
    pub node: Option<String>,
    pub outcome: Option<String>,
}

/// Records one message for `request_id`.
pub fn add(tx: &Transaction, request_id: &str, status: u16, message: &str) -> Result<(), Error> {
    add_by(tx, request_id, "", status, message)
}

/// Records one message for `request_id`, asked for by `initiator`.
pub fn add_by(
    tx: &Transaction,
    request_id: &str,
    initiator: &str,
    status: u16,
    message: &str,
) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO status (request_id, username_initiator, status, message) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![request_id, initiator, status, message])?;
    Ok(())
}

/// Records node `node`'s outcome of a control request.
pub fn add_outcome(
    tx: &Transaction,
    request_id: &str,
    initiator: &str,
    node: &str,
    outcome: &str,
    message: &str,
) -> Result<(), Error> {
    let status = if outcome == "failed" { 500 } else { 200 };
    tx.prepare_cached(
        "INSERT INTO status (request_id, username_initiator, status, message, node, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        request_id, initiator, status, message, node, outcome
    ])?;
    Ok(())
}

/// The messages of `request_id` matching `filter` (an SQL condition),
/// oldest first; all of them are then marked read.
fn take(tx: &Transaction, request_id: &str, filter: &str) -> Result<Vec<Message>, Error> {
    let rows: Vec<Message> = tx
        .prepare_cached(&format!(
            "SELECT created, message, status, node, outcome FROM status
             WHERE request_id = ?1 {filter} ORDER BY id"
        ))?
        .query_map([request_id], |r| {
            Ok(Message {
                created: r.get(0)?,
                message: r.get(1)?,
                status: r.get(2)?,
                node: r.get(3)?,
                outcome: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    if !rows.is_empty() {
        tx.prepare_cached("UPDATE status SET read = 1 WHERE request_id = ?1 AND read = 0")?
            .execute([request_id])?;
    }
    Ok(rows)
}

/// The messages of `request_id` not read yet, oldest first; they are marked
/// read.
pub fn take_unread(tx: &Transaction, request_id: &str) -> Result<Vec<Message>, Error> {
    take(tx, request_id, "AND read = 0")
}

/// Every message of `request_id`, read or not, oldest first; all are
/// marked read. For a requester that waited for its job: two identical
/// requests share one job, and each must see its outcome.
pub fn take_all(tx: &Transaction, request_id: &str) -> Result<Vec<Message>, Error> {
    take(tx, request_id, "")
}

/// Whether any message was recorded for `request_id`.
pub fn known(tx: &Transaction, request_id: &str) -> Result<bool, Error> {
    use rusqlite::OptionalExtension;
    Ok(tx
        .prepare_cached("SELECT 1 FROM status WHERE request_id = ?1 LIMIT 1")?
        .query_row([request_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Every message held, oldest first, as `/monitor/status` lists them.
pub fn all(tx: &Transaction) -> Result<Vec<Value>, Error> {
    let rows = tx
        .prepare_cached(
            "SELECT request_id, username_initiator, created, read,
                    CASE WHEN node IS NULL THEN message ELSE node || ': ' || message END
             FROM status ORDER BY created, id",
        )?
        .query_map([], |r| {
            Ok(json!({
                "request_id": r.get::<_, String>(0)?,
                "username_initiator": r.get::<_, String>(1)?,
                "created": r.get::<_, String>(2)?,
                "read": r.get::<_, i64>(3)?,
                "message": r.get::<_, String>(4)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Removes messages older than `hours`.
pub fn purge(tx: &Transaction, hours: u32) -> Result<usize, Error> {
    Ok(tx.execute(
        "DELETE FROM status WHERE created < datetime('now', ?1)",
        [format!("-{hours} hours")],
    )?)
}
