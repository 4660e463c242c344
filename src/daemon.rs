//! What background work needs of the running daemon: the settings, the
//! templates, the write lock, the secrets sealer, and the handles of the other
//! background parts. The API's `App` provides it; the generators (`gen`) and the
//! job runner (`jobs`) take it, so neither reaches into the API.

use std::sync::Mutex;

use crate::config::Config;

pub trait Daemon: Send + Sync + 'static {
    fn config(&self) -> &Config;
    fn templates(&self) -> &crate::templates::Shared;
    /// The port nodes reach the API on (boot URLs in dhcpd.conf).
    fn port(&self) -> u16;
    /// Held for every write transaction (see `api::dispatch`).
    fn write_lock(&self) -> &Mutex<()>;
    fn regen(&self) -> &crate::gen::Regen;
    fn sealer(&self) -> &crate::secrets::Sealer;
    fn jobs(&self) -> &crate::jobs::Jobs;
    fn tracker(&self) -> &crate::tracker::Tracker;
    /// Called after background work changed the model: what was derived from
    /// the database before (boot scripts) is stale.
    fn changed(&self);
}
