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
