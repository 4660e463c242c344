//! What background work needs of the running daemon: the settings, the
//! templates, the write lock, the secrets sealer. The API's `App` provides it;
//! each background part (`gen`, `jobs`, `images`, `ha`) extends it with a
//! `Host` trait of its own naming the handles it uses, so no part reaches into
//! the API and this module names none of them.

use std::sync::Mutex;

use rusqlite::{Connection, TransactionBehavior};

use crate::cmdb::{self, Store};
use crate::config::Config;

pub trait Daemon: Send + Sync + 'static {
    fn config(&self) -> &Config;
    fn templates(&self) -> &crate::templates::Shared;
    /// The port nodes reach the API on (boot URLs in dhcpd.conf).
    fn port(&self) -> u16;
    /// Held for every write transaction (see `api::dispatch`).
    fn write_lock(&self) -> &Mutex<()>;
    fn sealer(&self) -> &crate::secrets::Sealer;
    /// A token other controllers accept (they share the signing secret).
    fn peer_token(&self) -> Result<String, String>;
    /// Called after background work changed the model: what was derived from
    /// the database before (boot scripts) is stale.
    fn changed(&self);
}

/// Runs `f` in a write transaction (under the daemon's write lock) and commits.
pub fn write<T>(
    app: &dyn Daemon,
    db: &mut Connection,
    f: impl FnOnce(&Store) -> Result<T, cmdb::Error>,
) -> Result<T, cmdb::Error> {
    let _writing = app.write_lock().lock().unwrap_or_else(|e| e.into_inner());
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&Store {
        tx: &tx,
        config: app.config(),
        sealer: app.sealer(),
    })?;
    tx.commit()?;
    Ok(out)
}

/// Runs `f` in a read transaction: one consistent snapshot, no lock.
pub fn read<T>(
    app: &dyn Daemon,
    db: &mut Connection,
    f: impl FnOnce(&Store) -> Result<T, cmdb::Error>,
) -> Result<T, cmdb::Error> {
    let tx = db.transaction()?;
    f(&Store {
        tx: &tx,
        config: app.config(),
        sealer: app.sealer(),
    })
}
