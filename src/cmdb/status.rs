//! Status messages by request id: what an asynchronous request (a service
//! reload, a regeneration, later a job) reports, for its requester to poll.

use rusqlite::{params, Transaction};

use super::Error;

/// Records one message for `request_id`.
pub fn add(tx: &Transaction, request_id: &str, status: u16, message: &str) -> Result<(), Error> {
    tx.prepare_cached("INSERT INTO status (request_id, status, message) VALUES (?1, ?2, ?3)")?
        .execute(params![request_id, status, message])?;
    Ok(())
}

/// The messages of `request_id` not read yet (time, message, status), oldest
/// first; they are marked read.
pub fn take_unread(
    tx: &Transaction,
    request_id: &str,
) -> Result<Vec<(String, String, u16)>, Error> {
    let rows: Vec<(String, String, u16)> = tx
        .prepare_cached(
            "SELECT created, message, status FROM status WHERE request_id = ?1 AND read = 0 ORDER BY id",
        )?
        .query_map([request_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    if !rows.is_empty() {
        tx.prepare_cached("UPDATE status SET read = 1 WHERE request_id = ?1")?
            .execute([request_id])?;
    }
    Ok(rows)
}
