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

pub mod client;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::daemon::{read, write, Daemon};

/// Entries sent in one `POST /journal`.
const BATCH: usize = 500;
/// An idle pusher looks again this often.
const PUSH_EVERY: Duration = Duration::from_millis(200);
/// How long a peer may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Another controller.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
}

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

/// Parses `[HA] PEERS`: `name=ip:port` entries, comma separated.
pub fn parse_peers(text: &str) -> Result<Vec<Peer>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, addr) = p
                .split_once('=')
                .ok_or_else(|| format!("'{p}': name=ip:port expected"))?;
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("'{p}': an IP address and port expected"))?;
            Ok(Peer {
                name: name.trim().to_string(),
                addr,
            })
        })
        .collect()
}

/// Loads the recorded role and starts the pusher when HA is on.
pub fn spawn(app: Arc<dyn Daemon>, default_master: bool) -> Result<(), String> {
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
    std::thread::Builder::new()
        .name("ha-push".into())
        .spawn(move || push_loop(app, db))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn push_loop(app: Arc<dyn Daemon>, mut db: rusqlite::Connection) {
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
fn push_once(
    app: &dyn Daemon,
    db: &mut rusqlite::Connection,
    peer: &Peer,
) -> Result<usize, String> {
    let entries = read(app, db, |store| {
        crate::cmdb::journal::pending(store.tx, &peer.name, BATCH)
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
