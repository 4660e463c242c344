//! The cluster model: the cluster's data and its rules, apart from HTTP.
//!
//! Everything here takes a transaction (through [`Store`]) and typed inputs and
//! returns typed results or an [`Error`]. It knows nothing of requests, headers,
//! status codes or tokens: the API (`src/api/`) translates requests into calls
//! here and errors into statuses, and background work (`src/gen/`, later jobs
//! and replication) calls the model directly.

pub mod bmcsetup;
pub mod boot;
pub mod bootstrap;
pub mod cloud;
pub mod cluster;
pub mod control;
pub mod device;
pub mod dns;
pub mod enroll;
pub mod group;
pub mod inherit;
pub mod interface;
pub mod ipam;
pub mod journal;
pub mod json;
pub mod monitor;
pub mod network;
pub mod node;
pub mod osimage;
pub mod osuser;
pub mod queue;
pub mod rack;
pub mod resource;
pub mod secrets;
pub mod status;
pub mod swarm;
pub mod tables;
pub mod tpm;
pub mod transfer;
pub mod value;

use std::fmt;

use rusqlite::Transaction;

use crate::config::Config;
use crate::secrets::Sealer;

/// What the model works in: one transaction and the settings it depends on.
pub struct Store<'a> {
    pub tx: &'a Transaction<'a>,
    pub config: &'a Config,
    /// Seals and opens secrets (`cmdb::secrets`).
    pub sealer: &'a Sealer,
}

/// Why the model refused or failed. The API maps each to a status.
#[derive(Debug)]
pub enum Error {
    /// The input breaks a rule; the message names the value and the rule.
    Invalid(String),
    NotFound(String),
    /// Try again later (the database is busy, a directory is missing).
    Unavailable(String),
    /// A fault of ours, not the caller's; logged, never shown in detail.
    Internal(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Error {
        Error::NotFound(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) | Error::NotFound(m) | Error::Unavailable(m) | Error::Internal(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        if let rusqlite::Error::SqliteFailure(err, _) = &e {
            if matches!(
                err.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                return Error::Unavailable("database is busy, try again".into());
            }
        }
        Error::Internal(format!("database: {e}"))
    }
}
