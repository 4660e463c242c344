//! The job runner: a fixed pool of threads that run queued jobs (power
//! control now, image work next) one row at a time.
//!
//! A job is a row of the `queue` table (`cmdb::queue`), written in the same
//! transaction as the request that asked for it; `Jobs::wake` (after that
//! commit) tells an idle runner thread to look. A runner claims the oldest
//! queued row, runs it with no transaction open, records its messages under
//! the job's request id (`cmdb::status`) as it goes, and ends the row `done`
//! or `failed` in the transaction that writes its last message. At start,
//! rows left `running` by a killed daemon are failed with a message, and
//! queued rows run.

pub mod control;
pub mod osimage;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use crate::cmdb::queue::{self, Job};
use crate::cmdb::{self, Store};
use crate::daemon::Daemon;

/// What the job runner needs beyond `Daemon`: its handle, and the tracker
/// (a pack's torrent is tracked as soon as it exists).
pub trait Host: Daemon {
    fn jobs(&self) -> &Jobs;
    fn tracker(&self) -> &crate::tracker::Tracker;
}

/// An idle runner looks at the queue at least this often (also when a wake
/// was lost, e.g. a job queued by a request that raced a runner's sleep).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Finished jobs and status messages are kept this long.
const KEEP_HOURS: u32 = 24;
/// How often old rows are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Request ids of recently finished jobs remembered for waiters.
const FINISHED_MAX: usize = 4096;

/// The handle requests use: wake the runners, wait for a job to end.
pub struct Jobs {
    /// Requests waiting for their job now (`wait`).
    waiting: std::sync::atomic::AtomicUsize,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    finished: Mutex<VecDeque<String>>,
    ended: Condvar,
}

impl Default for Jobs {
    fn default() -> Jobs {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(64);
        Jobs {
            waiting: Default::default(),
            wake_tx,
            wake_rx,
            finished: Mutex::default(),
            ended: Condvar::new(),
        }
    }
}

impl Jobs {
    /// A job was queued (and committed): an idle runner should look.
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    /// Waits up to `limit` for the job of `request_id` to end; true if it did.
    /// At most `waiters_max` requests wait at once (each holds an API worker):
    /// beyond that the answer is at once, and the requester polls.
    pub fn wait(&self, request_id: &str, limit: Duration, waiters_max: usize) -> bool {
        use std::sync::atomic::Ordering;
        let admitted = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < waiters_max).then_some(n + 1)
            })
            .is_ok();
        let limit = if admitted { limit } else { Duration::ZERO };
        let ended = self.wait_for(request_id, limit);
        if admitted {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        ended
    }

    fn wait_for(&self, request_id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if finished.iter().any(|id| id == request_id) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            finished = self
                .ended
                .wait_timeout(finished, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn ended(&self, request_id: &str) {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        if finished.len() >= FINISHED_MAX {
            finished.pop_front();
        }
        finished.push_back(request_id.to_string());
        self.ended.notify_all();
    }
}

/// Fails what a killed daemon left running, then starts the runner threads.
pub fn spawn(app: Arc<dyn Host>) -> Result<(), String> {
    let mut db = crate::db::open(&app.config().database).map_err(|e| e.to_string())?;
    let interrupted = write(app.as_ref(), &mut db, |store| {
        cmdb::queue::fail_interrupted(store.tx)
    })
    .map_err(|e| format!("cannot recover the job queue: {e}"))?;
    for id in &interrupted {
        log::warn!("job {id} was running when luna2d stopped; marked failed");
    }
    // What an interrupted pack left in the files directory.
    let (in_use, images) = read(app.as_ref(), &mut db, cmdb::osimage::files_in_use)
        .map_err(|e| format!("cannot list the image files: {e}"))?;
    for name in crate::images::remove_orphans(&app.config().image_files, &in_use, &images) {
        log::warn!("removed {name}: left by an interrupted pack, named by no image or tag");
    }
    for n in 0..app.config().job_workers {
        let app = app.clone();
        let mut db = crate::db::open(&app.config().database).map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name(format!("job-{n}"))
            .spawn(move || runner(app, &mut db, n == 0))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn runner(app: Arc<dyn Host>, db: &mut Connection, purges: bool) {
    let mut purged = Instant::now() - PURGE_EVERY;
    loop {
        if purges && purged.elapsed() >= PURGE_EVERY {
            purged = Instant::now();
            if let Err(e) = write(app.as_ref(), db, |store| {
                cmdb::queue::purge_finished(store.tx, KEEP_HOURS)?;
                cmdb::status::purge(store.tx, KEEP_HOURS)
            }) {
                log::warn!("purging old jobs: {e}");
            }
        }
        match write(app.as_ref(), db, |store| queue::claim(store.tx)) {
            Ok(Some(job)) => run(app.as_ref(), db, job),
            Ok(None) => {
                let _ = app.jobs().wake_rx.recv_timeout(IDLE_POLL);
            }
            Err(e) => {
                log::error!("job queue: {e}");
                std::thread::sleep(IDLE_POLL);
            }
        }
    }
}

pub use crate::daemon::{read, write};

/// Model changes made in the transaction that ends a job; answers files to
/// remove once it committed.
pub type Apply = Box<dyn FnOnce(&Store) -> Result<Vec<PathBuf>, cmdb::Error>>;

/// How a job ended well: its last message, what it changes in the model,
/// and the files it made that nothing will name if that change fails.
pub struct Finish {
    pub message: String,
    pub apply: Option<Apply>,
    pub made: Vec<PathBuf>,
}

impl Finish {
    pub fn message(message: impl Into<String>) -> Finish {
        Finish {
            message: message.into(),
            apply: None,
            made: Vec::new(),
        }
    }
}

/// A running job's view of the daemon: its row, and a way to report.
pub struct Run<'a> {
    pub app: &'a dyn Host,
    pub db: &'a mut Connection,
    pub job: &'a Job,
}

impl Run<'_> {
    /// Records a progress message for the job's requester.
    pub fn message(&mut self, status: u16, message: &str) {
        let job = self.job;
        let result = write(self.app, self.db, |store| {
            cmdb::status::add_by(store.tx, &job.request_id, &job.initiator, status, message)
        });
        if let Err(e) = result {
            log::error!("job {}: cannot record a message: {e}", job.request_id);
        }
    }
}

fn run(app: &dyn Host, db: &mut Connection, job: Job) {
    let started = Instant::now();
    log::info!(
        "job {} ({} {}) started",
        job.request_id,
        job.subsystem,
        job.task
    );
    let result = {
        let mut run = Run {
            app,
            db: &mut *db,
            job: &job,
        };
        match job.subsystem.as_str() {
            "control" => control::run(&mut run),
            "osimage" => osimage::run(&mut run),
            other => Err(format!("no runner for jobs of subsystem '{other}'")),
        }
    };
    let title = queue::task_label(&job.task, &job.param);
    let (ok, status, message, apply, made) = match result {
        Ok(f) => (
            true,
            200,
            format!("{title}: {}", f.message),
            f.apply,
            f.made,
        ),
        Err(e) => (
            false,
            500,
            format!("{title}: failed: {e}"),
            None,
            Vec::new(),
        ),
    };
    let changes_model = apply.is_some();
    let ended = write(app, db, |store| {
        let remove = match apply {
            Some(apply) => apply(store)?,
            None => Vec::new(),
        };
        cmdb::status::add_by(store.tx, &job.request_id, &job.initiator, status, &message)?;
        queue::finish(store.tx, job.id, ok)?;
        Ok(remove)
    });
    let ok = match ended {
        Ok(remove) => {
            osimage::remove(&remove);
            if changes_model {
                app.changed();
            }
            ok
        }
        Err(e) => {
            log::error!("job {}: cannot record its end: {e}", job.request_id);
            // Nothing names what it made: remove it.
            for path in &made {
                let _ = std::fs::remove_file(path);
            }
            let _ = write(app, db, |store| {
                cmdb::status::add_by(
                    store.tx,
                    &job.request_id,
                    &job.initiator,
                    500,
                    &format!("{title}: failed: cannot record the outcome: {e}"),
                )?;
                queue::finish(store.tx, job.id, false)
            });
            false
        }
    };
    log::info!(
        "job {} ({} {}) {} in {} ms",
        job.request_id,
        job.subsystem,
        job.task,
        if ok { "done" } else { "failed" },
        started.elapsed().as_millis()
    );
    app.jobs().ended(&job.request_id);
}
