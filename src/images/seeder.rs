//! The controller seeds the images it packed: luna2d starts and supervises
//! one `aria2c` that seeds every torrent in `[FILES] IMAGE_FILES`.
//!
//! Why aria2c rather than a BitTorrent peer inside luna2d: the nodes already
//! run aria2c, so the seeder speaks exactly their dialect, and the peer wire
//! protocol (choking, piece requests, 16 KiB block transfers) would add a
//! second network server to the daemon for no gain. The seeder is restarted
//! when the set of torrents changes (a pack added or removed one) and when it
//! dies; it dies with luna2d (`PR_SET_PDEATHSIG`), so a kill -9 of the daemon
//! leaves no orphan. `[FILES] SEEDER` names the program (empty: no seeding,
//! nodes fetch from each other and fall back to HTTP).

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// How often the seeder looks for new or removed torrents, and at its child.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// The pause before restarting a seeder that died on its own.
const RESTART_PAUSE: Duration = Duration::from_secs(5);

/// Starts the supervising thread when a seeder is configured.
pub fn spawn(app: Arc<dyn super::Host>) -> Result<(), String> {
    let cfg = app.config();
    if cfg.seeder.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("seeder".into())
        .spawn(move || supervise(app))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn supervise(app: Arc<dyn super::Host>) {
    let cfg = app.config();
    // Nodes get the seeder first in their peer lists.
    let controller = crate::db::open(&cfg.database)
        .map_err(|e| e.to_string())
        .and_then(|mut db| {
            crate::daemon::read(app.as_ref(), &mut db, |store| {
                crate::cmdb::boot::urls(store, app.port())
            })
            .map_err(|e| e.to_string())
        });
    match controller {
        Ok(urls) => app
            .tracker()
            .set_seed(address(&urls.controller, cfg.seeder_port)),
        Err(e) => log::warn!("the seeder's address is unknown: {e}"),
    }
    let files = cfg.image_files.clone();
    let list = cfg.data_dir.join("seeder.list");
    let mut child: Option<Child> = None;
    let mut seeding: BTreeSet<String> = BTreeSet::new();
    loop {
        let current = torrents(&files);
        let dead = match child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => {
                log::warn!("the seeder exited ({status}); restarting it");
                std::thread::sleep(RESTART_PAUSE);
                true
            }
            Some(Ok(None)) => false,
            Some(Err(_)) => true,
            None => !current.is_empty(),
        };
        if dead || current != seeding {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            seeding = current;
            if !seeding.is_empty() {
                match start(app.as_ref(), &files, &list, &seeding) {
                    Ok(c) => {
                        log::info!("seeding {} torrents", seeding.len());
                        child = Some(c);
                    }
                    Err(e) => log::error!("cannot start the seeder: {e}"),
                }
            }
        }
        std::thread::sleep(CHECK_EVERY);
    }
}

/// The `.torrent` files whose image file is present.
fn torrents(files: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(files) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .filter(|n| {
            n.strip_suffix(".torrent")
                .is_some_and(|image| files.join(image).is_file())
        })
        .collect()
}

fn start(
    app: &dyn super::Host,
    files: &Path,
    list: &Path,
    torrents: &BTreeSet<String>,
) -> Result<Child, String> {
    let cfg = app.config();
    let listing: String = torrents
        .iter()
        .map(|t| format!("{}\n", files.join(t).display()))
        .collect();
    std::fs::write(list, listing).map_err(|e| format!("{}: {e}", list.display()))?;
    let mut cmd = Command::new(&cfg.seeder);
    cmd.args(args(files, list, cfg.seeder_port, cfg.seeder_upload_limit))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the child asks to be killed when
    // the daemon thread that started it goes away.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| format!("{}: {e}", cfg.seeder))
}

/// aria2c's arguments: seed forever, trust the files (luna2d wrote them),
/// talk only to the tracker and peers.
fn args(files: &Path, list: &Path, port: u16, upload_limit: u64) -> Vec<String> {
    vec![
        format!("--dir={}", files.display()),
        format!("--input-file={}", list.display()),
        format!("--listen-port={port}"),
        "--seed-ratio=0.0".into(),
        "--bt-seed-unverified=true".into(),
        "--check-integrity=false".into(),
        "--enable-dht=false".into(),
        "--enable-dht6=false".into(),
        "--bt-enable-lpd=false".into(),
        "--bt-max-peers=0".into(),
        format!("--max-overall-upload-limit={upload_limit}"),
        "--allow-overwrite=false".into(),
        "--auto-file-renaming=false".into(),
        "--summary-interval=0".into(),
        "--console-log-level=error".into(),
        "--quiet=true".into(),
    ]
}

/// The seeder's address for the tracker's peer lists: the controller's IP
/// and the seeder's port.
pub fn address(controller: &str, port: u16) -> Option<std::net::SocketAddr> {
    controller
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| std::net::SocketAddr::new(ip, port))
}
