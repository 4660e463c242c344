//! The tracker's swarms as saved between runs (`trackerpeer`,
//! `trackertorrent`); the live state is in memory (`crate::tracker`).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Transaction};

use super::Error;
use crate::tracker::{SavedPeer, Snapshot};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Replaces the saved swarms with `snap`.
pub fn save(tx: &Transaction, snap: &Snapshot) -> Result<(), Error> {
    tx.execute("DELETE FROM trackerpeer", [])?;
    tx.execute("DELETE FROM trackertorrent", [])?;
    let now = unix_now();
    let mut torrent =
        tx.prepare_cached("INSERT INTO trackertorrent (info_hash, downloaded) VALUES (?1, ?2)")?;
    for (hash, downloaded) in &snap.torrents {
        torrent.execute(params![&hash[..], *downloaded as i64])?;
    }
    let mut peer = tx.prepare_cached(
        "INSERT INTO trackerpeer (info_hash, peer_id, ip, port, left, completed, age, saved)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for p in &snap.peers {
        peer.execute(params![
            &p.info_hash[..],
            &p.peer_id[..],
            p.addr.ip().to_string(),
            p.addr.port(),
            p.left.min(i64::MAX as u64) as i64,
            p.completed,
            p.age.as_secs() as i64,
            now
        ])?;
    }
    Ok(())
}

/// The saved swarms, ages counted to now.
pub fn load(tx: &Transaction) -> Result<Snapshot, Error> {
    let now = unix_now();
    let hash = |v: Vec<u8>| -> Option<[u8; 20]> { v.try_into().ok() };
    let mut snap = Snapshot::default();
    let mut stmt = tx.prepare("SELECT info_hash, downloaded FROM trackertorrent")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))? {
        let (h, downloaded) = row?;
        if let Some(h) = hash(h) {
            snap.torrents.push((h, downloaded.max(0) as u64));
        }
    }
    let mut stmt = tx.prepare(
        "SELECT info_hash, peer_id, ip, port, left, completed, age, saved FROM trackerpeer",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, u16>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
        ))
    })?;
    for row in rows {
        let (h, id, ip, port, left, completed, age, saved) = row?;
        let (Some(info_hash), Some(peer_id), Ok(ip)) = (hash(h), hash(id), ip.parse()) else {
            continue;
        };
        let age = age.max(0) + (now - saved).max(0);
        snap.peers.push(SavedPeer {
            info_hash,
            peer_id,
            addr: SocketAddr::new(ip, port),
            left: left.max(0) as u64,
            completed,
            age: Duration::from_secs(age as u64),
        });
    }
    Ok(snap)
}
