//! Node states: what installers and the boot path report about a node.
//!
//! A node's state is a free-form string such as `install.discovered` or
//! `install.success`, kept on the node row. `install.error` (or any state
//! ending in `.error`/`.fail`) is "not OK".

use rusqlite::Transaction;

use super::resource::lookup_id;
use super::{Error, Store};

/// Longest state string accepted.
const STATE_BYTES_MAX: usize = 256;

pub fn failing(state: &str) -> bool {
    state.ends_with(".error") || state.ends_with(".fail") || state.ends_with(".failed")
}

/// A short human reading of a state.
pub fn interpret(state: &str) -> String {
    match state.strip_prefix("install.") {
        Some("error") => "Luna installer: error".into(),
        Some(step) => format!("Luna installer: {step}"),
        None if state.is_empty() => "unknown".into(),
        None if failing(state) => format!("{state}: failing"),
        None => state.to_string(),
    }
}

/// A node's state (empty when none was recorded).
pub fn state_of(store: &Store, name: &str) -> Result<String, Error> {
    let state: Option<Option<String>> = store
        .tx
        .prepare_cached("SELECT status FROM node WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .map(Some)
        .or_else(|e| {
            if e == rusqlite::Error::QueryReturnedNoRows {
                Ok(None)
            } else {
                Err(e)
            }
        })?;
    Ok(state
        .ok_or_else(|| Error::not_found(format!("node '{name}' not found")))?
        .unwrap_or_default())
}

/// Records the state a node reports.
pub fn set_state(store: &Store, name: &str, state: &str) -> Result<(), Error> {
    if state.is_empty() || state.len() > STATE_BYTES_MAX || state.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "invalid state: 1-{STATE_BYTES_MAX} printable characters expected"
        )));
    }
    let id = lookup_id(store.tx, "node", name)?
        .ok_or_else(|| Error::not_found(format!("node '{name}' not found")))?;
    set_states(store.tx, &[(id, state)])
}

/// Records states by node id, as the boot path queues them.
pub fn set_states(tx: &Transaction, batch: &[(i64, &str)]) -> Result<(), Error> {
    let mut stmt = tx.prepare_cached("UPDATE node SET status = ?2 WHERE id = ?1")?;
    for (node, state) in batch {
        stmt.execute(rusqlite::params![node, state])?;
    }
    Ok(())
}

/// Records states by node name (power control's `power on` and the like).
pub fn set_states_by_name(tx: &Transaction, batch: &[(&str, &str)]) -> Result<(), Error> {
    let mut stmt = tx.prepare_cached("UPDATE node SET status = ?2 WHERE name = ?1")?;
    for (node, state) in batch {
        stmt.execute(rusqlite::params![node, state])?;
    }
    Ok(())
}

/// Every node's name and state, by name.
pub fn states(store: &Store) -> Result<Vec<(String, String)>, Error> {
    let mut stmt = store
        .tx
        .prepare_cached("SELECT name, COALESCE(status, '') FROM node ORDER BY name")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
