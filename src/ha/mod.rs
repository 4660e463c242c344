//! High availability: two or more controllers kept in step by a journal.
//!
//! Every state-changing request accepted on the master is recorded, in its
//! own transaction, as one journal entry per other controller
//! (`cmdb::journal`); `spawn`'s pusher sends each peer its entries in order
//! (`POST /journal`) and deletes them once the peer acknowledged them. A
//! shadow applies entries through the same dispatcher code as the original
//! request, one transaction each, recording the last entry applied per
//! sender in that same transaction, so an entry applies exactly once even
//! across a kill -9. Writes sent to a shadow are refused (503, naming the
//! master): there is one writer, so no split brain on writes while roles are
//! clear. HA is on when `[HA] PEERS` names other controllers.
//!
//! `watch_loop` asks the peers for their `/ha/state` every second. A master
//! that finds a peer holding the role since later steps down (the returning
//! old master). A shadow that hears no master for `[HA] FAILOVER_AFTER` takes
//! the role if `[HA] FAILOVER = auto` and it is in sync; one that hears the
//! master compares `/table/hashes` every `[HA] SYNC_EVERY` and replaces the
//! tables that differ with the master's rows, in one transaction.

pub mod client;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::daemon::{read, write, Daemon};

/// What HA needs beyond `Daemon`: its own handle, the generators (tables
/// repaired change the configs) and the tracker (fetched torrents).
pub trait Host: Daemon {
    fn ha(&self) -> &Ha;
    fn regen(&self) -> &crate::gen::Regen;
    fn tracker(&self) -> &crate::tracker::Tracker;
}

/// Entries sent in one `POST /journal`.
const BATCH: usize = 500;
/// An idle pusher looks again this often.
const PUSH_EVERY: Duration = Duration::from_millis(200);
/// How long a peer may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::config::Peer;

/// This controller's place among the controllers.
pub struct Ha {
    pub name: String,
    pub peers: Vec<Peer>,
    master: AtomicBool,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl Ha {
    pub fn new(name: String, peers: Vec<Peer>, master: bool) -> Ha {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        Ha {
            name,
            peers,
            master: AtomicBool::new(master),
            wake_tx,
            wake_rx,
        }
    }

    /// HA is on with at least one other controller.
    pub fn enabled(&self) -> bool {
        !self.peers.is_empty()
    }

    pub fn is_master(&self) -> bool {
        !self.enabled() || self.master.load(Ordering::Acquire)
    }

    pub fn set_master(&self, master: bool) {
        self.master.store(master, Ordering::Release);
    }

    pub fn peer_names(&self) -> Vec<String> {
        self.peers.iter().map(|p| p.name.clone()).collect()
    }

    /// A change was journaled: push it soon.
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }
}

/// Loads the recorded role and starts the pusher when HA is on.
pub fn spawn(app: Arc<dyn Host>, default_master: bool) -> Result<(), String> {
    let ha = app.ha();
    if !ha.enabled() {
        return Ok(());
    }
    let mut db = crate::db::open(&app.config().database).map_err(|e| e.to_string())?;
    let role = write(app.as_ref(), &mut db, |store| {
        crate::cmdb::journal::role(store.tx, default_master)
    })
    .map_err(|e| format!("cannot read the HA role: {e}"))?;
    ha.set_master(role.master);
    log::info!(
        "HA: {} is {} among {} controllers",
        ha.name,
        if role.master { "master" } else { "shadow" },
        ha.peers.len() + 1
    );
    let watch_db = crate::db::open(&app.config().database).map_err(|e| e.to_string())?;
    let watcher = app.clone();
    std::thread::Builder::new()
        .name("ha-push".into())
        .spawn(move || push_loop(app, db))
        .map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("ha-watch".into())
        .spawn(move || watch_loop(watcher, watch_db))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A peer's answer to `/ha/state`: master, and since when.
struct PeerState {
    master: bool,
    updated: String,
    addr: SocketAddr,
}

fn peer_states(app: &dyn Host) -> Vec<PeerState> {
    let Ok(token) = app.peer_token() else {
        return Vec::new();
    };
    app.ha()
        .peers
        .iter()
        .filter_map(|p| {
            let (status, body) = client::request(
                p.addr,
                "GET",
                "/ha/state",
                &token,
                None,
                Duration::from_secs(2),
            )
            .ok()?;
            if status != 200 {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            Some(PeerState {
                master: v.pointer("/ha/master") == Some(&serde_json::Value::Bool(true)),
                updated: v
                    .pointer("/ha/updated")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                addr: p.addr,
            })
        })
        .collect()
}

fn watch_loop(app: Arc<dyn Host>, mut db: rusqlite::Connection) {
    let cfg = app.config();
    let mut master_seen = std::time::Instant::now();
    let mut synced = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let role = match write(app.as_ref(), &mut db, |store| {
            crate::cmdb::journal::role(store.tx, cfg.ha_master)
        }) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("HA: cannot read the role: {e}");
                continue;
            }
        };
        // `/ha/master/_set` may have changed it.
        app.ha().set_master(role.master);
        let peers = peer_states(app.as_ref());
        let master = peers.iter().find(|p| p.master);
        if role.master {
            if let Some(newer) = peers.iter().find(|p| p.master && p.updated > role.updated) {
                log::warn!(
                    "HA: {} holds the master role since {}: {} becomes shadow",
                    newer.addr,
                    newer.updated,
                    app.ha().name
                );
                // What it had not sent is stale now: the new master's
                // tables win (the table sync repairs this one).
                let stepped = write(app.as_ref(), &mut db, |store| {
                    for peer in &app.ha().peers {
                        crate::cmdb::journal::delete_for(store.tx, &peer.name)?;
                    }
                    crate::cmdb::journal::set_role(store.tx, false, false, false)
                });
                if stepped.is_ok() {
                    app.ha().set_master(false);
                    master_seen = std::time::Instant::now();
                    synced = std::time::Instant::now() - cfg.ha_sync_every;
                }
            }
            continue;
        }
        match master {
            Some(m) => {
                master_seen = std::time::Instant::now();
                if synced.elapsed() >= cfg.ha_sync_every {
                    synced = std::time::Instant::now();
                    match sync_tables(app.as_ref(), &mut db, m.addr) {
                        Ok(0) => {}
                        Ok(n) => log::warn!("HA: {n} tables differed from the master's; replaced"),
                        Err(e) => log::warn!("HA: table sync with {}: {e}", m.addr),
                    }
                    if cfg.ha_sync_images {
                        if let Err(e) = sync_images(app.as_ref(), &mut db, m.addr) {
                            log::warn!("HA: image sync with {}: {e}", m.addr);
                        }
                    }
                }
            }
            None if cfg.ha_auto_failover
                && master_seen.elapsed() >= cfg.ha_failover_after
                && (role.insync || role.overrule) =>
            {
                log::warn!(
                    "HA: no master for {}s: {} takes the master role",
                    master_seen.elapsed().as_secs(),
                    app.ha().name
                );
                if write(app.as_ref(), &mut db, |store| {
                    crate::cmdb::journal::set_role(store.tx, true, true, role.overrule)
                })
                .is_ok()
                {
                    app.ha().set_master(true);
                }
            }
            None => {}
        }
    }
}

/// Fetches from the master the image files the images and tags name and
/// this controller lacks (and their torrents), into `IMAGE_FILES`.
fn sync_images(
    app: &dyn Host,
    db: &mut rusqlite::Connection,
    master: SocketAddr,
) -> Result<(), String> {
    let (named, _) =
        read(app, db, crate::cmdb::osimage::files_in_use).map_err(|e| e.to_string())?;
    // Each file, and the torrent of each tarball.
    let names = named.iter().flat_map(|f| {
        let torrent = f.contains(".tar.").then(|| format!("{f}.torrent"));
        std::iter::once(f.clone()).chain(torrent)
    });
    let files = &app.config().image_files;
    std::fs::create_dir_all(files).map_err(|e| e.to_string())?;
    let token = app.peer_token()?;
    for name in names {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\'])
            && name.bytes().all(|b| b.is_ascii_graphic());
        if !plain || files.join(&name).is_file() {
            continue;
        }
        let bytes = client::download(
            master,
            &format!("/files/{name}"),
            &token,
            &files.join(&name),
            Duration::from_secs(60),
        )?;
        log::info!("HA: fetched {name} ({bytes} bytes) from the master");
        if let Some(hash) = name
            .ends_with(".torrent")
            .then(|| std::fs::read(files.join(&name)).ok())
            .flatten()
            .and_then(|b| crate::torrent::info_hash_of(&b).ok())
        {
            app.tracker().allow(hash);
        }
    }
    Ok(())
}

/// Compares the repairable tables with the master's and replaces those that
/// differ, in one transaction; answers how many.
fn sync_tables(
    app: &dyn Host,
    db: &mut rusqlite::Connection,
    master: SocketAddr,
) -> Result<usize, String> {
    let token = app.peer_token()?;
    // Only with nothing on its way from the master: entries in flight make
    // the tables differ for a moment, and are no damage to repair.
    let waiting = format!("/journal/{}", app.ha().name);
    let (status, _) = client::request(master, "GET", &waiting, &token, None, PEER_TIMEOUT)?;
    if status != 404 {
        return Ok(0);
    }
    let (status, body) =
        client::request(master, "GET", "/table/hashes", &token, None, PEER_TIMEOUT)?;
    if status != 200 {
        return Err(format!("/table/hashes answered {status}"));
    }
    let theirs: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let ours = read(app, db, crate::cmdb::tables::hashes).map_err(|e| e.to_string())?;
    let differing: Vec<&str> = crate::cmdb::tables::repairable()
        .filter(|t| theirs.pointer(&format!("/table/hashes/{t}")) != ours.get(*t))
        .collect();
    let mut rows = Vec::new();
    for table in &differing {
        let (status, body) = client::request(
            master,
            "GET",
            &format!("/table/data/{table}"),
            &token,
            None,
            PEER_TIMEOUT,
        )?;
        if status != 200 {
            return Err(format!("/table/data/{table} answered {status}"));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let list = v
            .pointer(&format!("/table/data/{table}"))
            .and_then(serde_json::Value::as_array)
            .cloned()
            .ok_or_else(|| format!("/table/data/{table}: no rows"))?;
        rows.push((*table, list));
    }
    if rows.is_empty() {
        return Ok(0);
    }
    // Several tables change together: foreign keys are checked once, at the
    // end, and a violation undoes the whole repair.
    db.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(|e| e.to_string())?;
    let repaired = write(app, db, |store| {
        for (table, list) in &rows {
            crate::cmdb::tables::replace(store, table, list)?;
        }
        let violations: i64 =
            store
                .tx
                .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
        if violations > 0 {
            return Err(crate::cmdb::Error::Internal(format!(
                "{violations} foreign key violations"
            )));
        }
        Ok(())
    });
    let _ = db.execute_batch("PRAGMA foreign_keys = ON");
    repaired.map_err(|e| e.to_string())?;
    app.changed();
    app.regen().request(crate::gen::Service::Dhcp, None);
    app.regen().request(crate::gen::Service::Dns, None);
    Ok(rows.len())
}

fn push_loop(app: Arc<dyn Host>, mut db: rusqlite::Connection) {
    let mut backoff: Vec<Option<std::time::Instant>> = vec![None; app.ha().peers.len()];
    loop {
        let mut busy = false;
        for (i, peer) in app.ha().peers.iter().enumerate() {
            if backoff[i].is_some_and(|until| std::time::Instant::now() < until) {
                continue;
            }
            match push_once(app.as_ref(), &mut db, peer) {
                Ok(sent) => {
                    backoff[i] = None;
                    busy |= sent == BATCH;
                }
                Err(e) => {
                    log::debug!("HA: cannot push to {}: {e}", peer.name);
                    backoff[i] = Some(std::time::Instant::now() + Duration::from_secs(1));
                }
            }
        }
        if !busy {
            let _ = app.ha().wake_rx.recv_timeout(PUSH_EVERY);
        }
    }
}

/// Sends `peer` its waiting entries; answers how many went.
fn push_once(app: &dyn Host, db: &mut rusqlite::Connection, peer: &Peer) -> Result<usize, String> {
    let entries = read(app, db, |store| {
        crate::cmdb::journal::pending(store, &peer.name, BATCH)
    })
    .map_err(|e| e.to_string())?;
    if entries.is_empty() {
        return Ok(0);
    }
    let body = serde_json::json!({
        "journal": entries.iter().map(|e| serde_json::json!({
            "id": e.id,
            "sendby": e.sendby,
            "method": e.method,
            "path": e.path,
            "payload": crate::util::b64_encode(&e.body),
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let token = app.peer_token()?;
    let (status, reply) = client::request(
        peer.addr,
        "POST",
        "/journal",
        &token,
        Some(body.as_bytes()),
        PEER_TIMEOUT,
    )?;
    if status != 200 {
        return Err(format!(
            "POST /journal answered {status}: {}",
            String::from_utf8_lossy(&reply)
        ));
    }
    let through = serde_json::from_slice::<serde_json::Value>(&reply)
        .ok()
        .and_then(|v| v.get("applied_through").and_then(serde_json::Value::as_i64))
        .ok_or("POST /journal answered no applied_through")?;
    write(app, db, |store| {
        crate::cmdb::journal::acknowledge(store.tx, &peer.name, through)
    })
    .map_err(|e| e.to_string())?;
    Ok(entries.len())
}
