//! Keeping the tracker's swarms across restarts: announces change memory
//! only (a boot storm is thousands a minute); every `SAVE_EVERY` the swarms,
//! if changed, are written in one transaction (`cmdb::swarm`), and at start
//! they are read back, so a restart loses at most that much of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::daemon::{read, write};

/// How often changed swarms are saved: well under the announce interval.
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// Restores the saved swarms, then saves them in the background.
pub fn spawn(app: Arc<dyn super::Host>) -> Result<(), String> {
    let mut db = crate::db::open(&app.config().database).map_err(|e| e.to_string())?;
    let saved = read(app.as_ref(), &mut db, |store| {
        crate::cmdb::swarm::load(store.tx)
    })
    .map_err(|e| format!("cannot read the saved swarms: {e}"))?;
    if !saved.peers.is_empty() {
        log::info!("tracker: {} peers restored", saved.peers.len());
    }
    app.tracker().restore(saved, Instant::now());
    std::thread::Builder::new()
        .name("swarm-saver".into())
        .spawn(move || loop {
            std::thread::sleep(SAVE_EVERY);
            if !app.tracker().dirty() {
                continue;
            }
            let snap = app.tracker().snapshot(Instant::now());
            if let Err(e) = write(app.as_ref(), &mut db, |store| {
                crate::cmdb::swarm::save(store.tx, &snap)
            }) {
                log::warn!("tracker: cannot save the swarms: {e}");
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}
