//! Generated service configurations: ISC dhcpd and BIND, written from the
//! database by a background job.
//!
//! Requests that change what these configs contain ask for a regeneration
//! (`Regen::request`); the job waits until changes stop arriving for
//! `QUIET` (at most `DELAY_MAX` after the first), so a burst of a thousand
//! node updates causes a handful of regenerations. Each regeneration renders the
//! templates into temporary files, validates them with the real tools
//! (`dhcpd -t -cf`, `named-checkconf`, `named-checkzone`), and only then moves
//! them into place and reloads the service. A rejected config leaves the
//! previous files untouched and is reported by `/monitor/service/{name}`.

pub mod dhcp;
pub mod dns;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::cmdb::Store;
use crate::config::Config;

/// Quiet time that ends a burst of changes.
const QUIET: Duration = Duration::from_millis(300);
/// Longest a change waits for its regeneration during a long burst.
const DELAY_MAX: Duration = Duration::from_secs(3);
/// Pending requests; beyond this, new requests are dropped, since a
/// regeneration is already due and reads the database as it is then.
const QUEUE_MAX: usize = 1024;

pub use crate::daemon::Daemon;

/// What the generator needs beyond `Daemon`: its own handle.
pub trait Host: Daemon {
    fn regen(&self) -> &Regen;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Dhcp,
    Dns,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Dhcp => "dhcp",
            Service::Dns => "dns",
        }
    }
}

struct Job {
    service: Service,
    request_id: Option<String>,
}

/// The handle requests use to ask for regenerations, and the outcome of the
/// last one per service.
pub struct Regen {
    tx: Sender<Job>,
    rx: Mutex<Option<Receiver<Job>>>,
    outcome: Mutex<HashMap<Service, Result<(), String>>>,
    /// Request ids whose regeneration has ended (the most recent few).
    ended: Mutex<std::collections::VecDeque<String>>,
}

/// Ended request ids remembered.
const ENDED_MAX: usize = 256;

impl Default for Regen {
    fn default() -> Regen {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_MAX);
        Regen {
            tx,
            rx: Mutex::new(Some(rx)),
            outcome: Mutex::default(),
            ended: Mutex::default(),
        }
    }
}

impl Regen {
    /// Asks for a regeneration; `request_id` collects its status messages.
    pub fn request(&self, service: Service, request_id: Option<String>) {
        if self
            .tx
            .try_send(Job {
                service,
                request_id,
            })
            .is_err()
        {
            log::debug!("regeneration queue full; one is already due");
        }
    }

    /// Whether the regeneration asked for under `request_id` has ended.
    pub fn ended(&self, request_id: &str) -> bool {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|id| id == request_id)
    }

    /// The last regeneration's error, if it failed.
    pub fn last_error(&self, service: Service) -> Option<String> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service)
            .and_then(|r| r.clone().err())
    }
}

/// Starts the regeneration job and queues a first run of each service.
pub fn spawn(app: Arc<dyn Host>) -> Result<(), String> {
    let rx = app
        .regen()
        .rx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or("regeneration job already started")?;
    let mut db = crate::db::open(&app.config().database).map_err(|e| e.to_string())?;
    app.regen().request(Service::Dhcp, None);
    app.regen().request(Service::Dns, None);
    std::thread::Builder::new()
        .name("regen".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut pending: BTreeMap<Service, Vec<String>> = BTreeMap::new();
                let started = Instant::now();
                let mut job = first;
                loop {
                    pending
                        .entry(job.service)
                        .or_default()
                        .extend(job.request_id);
                    if started.elapsed() >= DELAY_MAX {
                        break;
                    }
                    match rx.recv_timeout(QUIET) {
                        Ok(next) => job = next,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                for (service, ids) in pending {
                    run(app.as_ref(), &mut db, service, &ids);
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn run(app: &dyn Host, db: &mut rusqlite::Connection, service: Service, ids: &[String]) {
    let started = Instant::now();
    let result = regenerate(app, db, service);
    let ms = started.elapsed().as_millis();
    match &result {
        Ok(msg) => log::info!("{}: {msg} ({ms} ms)", service.name()),
        Err(e) => log::error!("{}: configuration not installed: {e}", service.name()),
    }
    let _writing = app.write_lock().lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(tx) = db.transaction() {
        for id in ids {
            let (status, msg) = match &result {
                Ok(m) => (200, m.clone()),
                Err(e) => (500, format!("configuration not installed: {e}")),
            };
            let _ = crate::cmdb::status::add(&tx, id, status, &msg);
        }
        let _ = tx.commit();
    }
    app.regen()
        .outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(service, result.map(|_| ()));
    let mut ended = app.regen().ended.lock().unwrap_or_else(|e| e.into_inner());
    for id in ids {
        if ended.len() >= ENDED_MAX {
            ended.pop_front();
        }
        ended.push_back(id.clone());
    }
}

/// A file to install: its final path and content.
pub struct Output {
    pub path: PathBuf,
    pub content: String,
}

/// A check run on staged files: program, arguments; `{}` is replaced by the
/// staged path of `file` (an index into the outputs).
pub struct Check {
    pub argv: Vec<String>,
    pub file: usize,
}

fn regenerate(
    app: &dyn Daemon,
    db: &mut rusqlite::Connection,
    service: Service,
) -> Result<String, String> {
    let serial = match service {
        Service::Dns => {
            let _writing = app.write_lock().lock().unwrap_or_else(|e| e.into_inner());
            let tx = db.transaction().map_err(|e| e.to_string())?;
            let serial = dns::next_serial(&tx).map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
            serial
        }
        Service::Dhcp => 0,
    };
    // A read transaction: one consistent snapshot, and no lock that writers wait on.
    let tx = db.transaction().map_err(|e| e.to_string())?;
    let generated = {
        let store = Store {
            tx: &tx,
            config: app.config(),
            sealer: app.sealer(),
        };
        match service {
            Service::Dhcp => dhcp::generate(&store, app),
            Service::Dns => dns::generate(&store, app, serial),
        }
    };
    drop(tx);
    // The node listing behind a regeneration is large; give its memory back.
    crate::alloc::trim();
    let (outputs, checks) = generated?;
    install(app.config(), service, &outputs, &checks)
}

/// Stages, validates, installs, reloads.
fn install(
    cfg: &Config,
    service: Service,
    outputs: &[Output],
    checks: &[Check],
) -> Result<String, String> {
    let mut staged = Vec::new();
    for out in outputs {
        let dir = out
            .path
            .parent()
            .ok_or_else(|| format!("{} has no directory", out.path.display()))?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = temp_path(&out.path);
        std::fs::write(&tmp, &out.content).map_err(|e| format!("{}: {e}", tmp.display()))?;
        // Read by dhcpd and named, which may run as their own users; nothing
        // in them is secret (luna2d's own umask would make them 0600).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        staged.push(tmp);
    }
    let cleanup = |staged: &[PathBuf]| {
        for p in staged {
            let _ = std::fs::remove_file(p);
        }
    };
    for check in checks {
        let Some((program, args)) = check.argv.split_first() else {
            continue;
        };
        let target = staged
            .get(check.file)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let args: Vec<String> = args.iter().map(|a| a.replace("{}", &target)).collect();
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match crate::services::run_capture(program, &arg_refs) {
            Ok((0, _)) => {}
            Ok((code, output)) => {
                cleanup(&staged);
                return Err(format!(
                    "{program} rejected it (exit {code}): {}",
                    output.trim()
                ));
            }
            Err(e) => {
                cleanup(&staged);
                return Err(e);
            }
        }
    }
    for (tmp, out) in staged.iter().zip(outputs) {
        std::fs::rename(tmp, &out.path).map_err(|e| format!("{}: {e}", out.path.display()))?;
    }
    remove_stale(outputs);
    // The file a service reads: the last one, installed after those it names.
    let main = outputs.last().map(|o| o.path.clone()).unwrap_or_default();
    let unit = cfg.service_unit(service.name());
    if cfg.service_command.is_empty() {
        return Ok(format!("configuration written to {}", main.display()));
    }
    let action = match service {
        Service::Dhcp => "restart",
        Service::Dns => "reload",
    };
    match crate::services::run(&cfg.service_command, &[action, &unit]) {
        Ok(0) => Ok(format!("configuration installed, {unit} {action}ed")),
        Ok(code) => Err(format!(
            "configuration installed, but '{} {action} {unit}' exited {code}",
            cfg.service_command
        )),
        Err(e) => Err(format!("configuration installed, but {e}")),
    }
}

/// Removes zone files of networks that no longer exist: every `*.luna.zone`
/// beside the ones just written.
fn remove_stale(outputs: &[Output]) {
    let current: Vec<&Path> = outputs.iter().map(|o| o.path.as_path()).collect();
    let dirs: std::collections::BTreeSet<&Path> =
        current.iter().filter_map(|p| p.parent()).collect();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let ours = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".luna.zone"));
            if ours && !current.contains(&path.as_path()) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.luna2d-new"))
}

/// Splits a configured command line (`dhcpd -t -cf`) into an argument vector.
pub fn argv(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}
