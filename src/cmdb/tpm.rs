//! TPM attestation of a node: the node proves it is itself by its TPM's
//! SHA-256 (`tpm_sha256`). With the cluster's `security` on, the value must
//! match the one recorded for the node; with it off, the first value a node
//! presents is recorded and later ones must match it (trust on first use).

use rusqlite::{params, OptionalExtension};

use super::{Error, Store};

/// Why an attestation is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    UnknownNode,
    /// Security is on and the node has no recorded TPM value.
    NothingRecorded,
    Mismatch,
    Malformed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::UnknownNode => "invalid node",
            Refusal::NothingRecorded => "node does not have TPM information",
            Refusal::Mismatch => "invalid TPM information",
            Refusal::Malformed => "tpm_sha256 must be 64 hexadecimal digits",
        })
    }
}

/// Checks (or, trusting on first use, records) `sha256` for `node`.
pub fn attest(store: &Store, node: &str, sha256: &str) -> Result<Result<(), Refusal>, Error> {
    let sha256 = sha256.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Err(Refusal::Malformed));
    }
    let row: Option<(i64, Option<String>)> = store
        .tx
        .prepare_cached("SELECT id, tpm_sha256 FROM node WHERE name = ?1")?
        .query_row([node], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, recorded)) = row else {
        return Ok(Err(Refusal::UnknownNode));
    };
    let security: bool = store
        .tx
        .query_row(
            "SELECT COALESCE(security, 0) FROM cluster WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let recorded = recorded
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty());
    match recorded {
        Some(r) if constant_time_eq(r.as_bytes(), sha256.as_bytes()) => Ok(Ok(())),
        Some(_) => Ok(Err(Refusal::Mismatch)),
        None if security => Ok(Err(Refusal::NothingRecorded)),
        None => {
            store.tx.execute(
                "UPDATE node SET tpm_sha256 = ?2 WHERE id = ?1",
                params![id, sha256],
            )?;
            Ok(Ok(()))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
