//! The HTTP/1.1 layer: the only code that touches sockets.
//!
//! One I/O thread (`event_loop.rs`) owns every connection. It accepts, reads
//! request heads and bodies into bounded buffers under deadlines, and hands each
//! *complete* request to a fixed pool of worker threads over a channel. A worker
//! runs the [`Handler`] (the API's dispatcher) and sends the [`Outgoing`] back;
//! the I/O thread writes it, files included (`sendfile`, a bounded slice per
//! turn). So no worker ever waits on a client, a slow client costs a buffer and a
//! descriptor but never a thread, and a boot script never queues behind a
//! download.
//!
//! What a client may cost is decided here, from the `[SERVER]` settings:
//! head size and header count (431), declared body size (413, before reading a
//! byte of it), deadlines on whole phases (head, body at a minimum rate, reply at
//! a minimum rate, idle keep-alive) and the number of open connections. See
//! ARCHITECTURE.md, "Config".

mod conn;
mod event_loop;
mod parse;
mod reply;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;

pub use reply::error as error_reply;

/// A request as the API layer sees it: complete, body included.
pub struct Incoming {
    pub method: Method,
    /// The raw URL path (percent-encoded), without the query string.
    pub path: String,
    /// The raw query string (percent-encoded), without the `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub remote: Option<SocketAddr>,
    pub body: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Head,
    /// A standard method no route uses (PUT, DELETE, …): the router answers 405.
    Other,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Head => "HEAD",
            Method::Other => "OTHER",
        }
    }

    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "HEAD" => Method::Head,
            _ => Method::Other,
        }
    }
}

/// A reply: status, content type and body, plus headers beyond the usual ones.
/// `Date`, `Content-Length` and `Connection` are the HTTP layer's.
pub struct Outgoing {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
}

pub enum Body {
    Bytes(Vec<u8>),
    /// A file sent from disk, with its length. A `Range` request gets part of it.
    File(std::fs::File, u64),
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which workers a request waits for. Nodes booting must never queue behind
/// admin work (a listing of thousands of nodes takes a worker for a while), so
/// the boot path has workers of its own, and admin workers run at a lower CPU
/// priority (`ADMIN_NICE`): under contention the boot path gets the cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Boot,
    Admin,
}

/// The nice value of admin workers (boot workers and the I/O thread keep 0).
/// At 15 (CFS weight 36 against 1024) eight busy admin workers take about a
/// tenth of a core from a boot storm, and still progress while it lasts.
const ADMIN_NICE: libc::c_int = 15;

/// What a worker thread runs for each request. A worker owns its handler (and
/// with it, its database connection).
pub trait Handler: Send + 'static {
    fn handle(&mut self, req: &Incoming) -> Outgoing;
    /// Called after `handle` panicked, before the next request.
    fn after_panic(&mut self) {}
}

/// A complete request on its way to a worker.
struct Job {
    conn: usize,
    serial: u64,
    method_name: String,
    req: Incoming,
}

/// A worker's reply on its way back to the I/O thread.
struct Done {
    conn: usize,
    serial: u64,
    reply: Outgoing,
}

/// Binds the listening socket by IP (never a name) and raises the descriptor
/// limit: a boot storm opens thousands of connections.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    raise_fd_limit();
    TcpListener::bind(addr)
}

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
/// afterwards, so that only `serve`'s signal thread receives them (through
/// `sigwait`). Call it first in `main`, before any thread exists. Children
/// started by `std::process::Command` get an empty mask again.
pub fn block_stop_signals() {
    // SAFETY: plain libc calls on a stack sigset.
    unsafe {
        let set = stop_signals();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Serves until SIGTERM or SIGINT, then drains: no more accepts, requests in
/// flight are answered (for at most `DRAIN_TIMEOUT`), and it returns. Each
/// handler runs on a worker thread of its own and serves one lane; `lane` sorts
/// requests into lanes; `ready` runs once the workers exist.
pub fn serve<H: Handler>(
    listener: TcpListener,
    limits: Config,
    handlers: Vec<(Lane, H)>,
    lane: fn(&Incoming) -> Lane,
    ready: impl FnOnce(),
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let poll = mio::Poll::new()?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), event_loop::WAKER)?);
    let wake_pending = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (boot_tx, boot_rx) = crossbeam_channel::unbounded::<Job>();
    let (admin_tx, admin_rx) = crossbeam_channel::unbounded::<Job>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    let (exit_tx, exit_rx) = crossbeam_channel::bounded::<()>(0);
    // Each worker reports once it is set up (priority included), so that
    // `ready` means every worker is.
    let (up_tx, up_rx) = crossbeam_channel::unbounded::<()>();
    let worker_count = handlers.len();

    for (idx, (worker_lane, handler)) in handlers.into_iter().enumerate() {
        let jobs = match worker_lane {
            Lane::Boot => boot_rx.clone(),
            Lane::Admin => admin_rx.clone(),
        };
        let done = done_tx.clone();
        let waker = waker.clone();
        let wake_pending = wake_pending.clone();
        let exit = exit_tx.clone();
        let name = match worker_lane {
            Lane::Boot => format!("boot-{idx}"),
            Lane::Admin => format!("worker-{idx}"),
        };
        let up = up_tx.clone();
        std::thread::Builder::new().name(name).spawn(move || {
            if worker_lane == Lane::Admin {
                lower_priority();
            }
            let _ = up.send(());
            worker_loop(handler, &jobs, &done, &waker, &wake_pending);
            drop(exit);
        })?;
    }
    drop((boot_rx, admin_rx, done_tx, exit_tx, up_tx));
    for _ in 0..worker_count {
        if up_rx.recv().is_err() {
            return Err(std::io::Error::other(
                "a worker thread ended while starting",
            ));
        }
    }
    spawn_signal_thread(stop.clone(), waker.clone())?;

    let mut io = event_loop::EventLoop::new(
        poll,
        mio::net::TcpListener::from_std(listener),
        limits.clone(),
        event_loop::Lanes {
            boot: boot_tx,
            admin: admin_tx,
            lane,
        },
        done_rx,
        wake_pending,
        stop,
    )?;
    ready();
    let drain_deadline = io.run()?;
    drop(io);
    // The job channel is closed: workers finish their request and exit.
    let remaining = drain_deadline.saturating_duration_since(Instant::now());
    if exit_rx.recv_timeout(remaining).is_err() {
        // Disconnected means every worker is gone; a timeout means one is still
        // busy: its transaction is abandoned with the process, and rolls back.
        if !matches!(
            exit_rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        ) {
            log::warn!("stopping with a request still running after DRAIN_TIMEOUT");
        }
    }
    Ok(())
}

fn worker_loop<H: Handler>(
    mut handler: H,
    jobs: &crossbeam_channel::Receiver<Job>,
    done: &crossbeam_channel::Sender<Done>,
    waker: &mio::Waker,
    wake_pending: &AtomicBool,
) {
    while let Ok(job) = jobs.recv() {
        let started = Instant::now();
        let reply = match catch_unwind(AssertUnwindSafe(|| handler.handle(&job.req))) {
            Ok(r) => r,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!("PANIC in {} {}: {what}", job.method_name, job.req.path);
                handler.after_panic();
                error_reply(500, "internal error")
            }
        };
        log::info!(
            "{} {} {} {:.1}ms",
            job.method_name,
            job.req.path,
            reply.status,
            started.elapsed().as_secs_f64() * 1000.0
        );
        let sent = done.send(Done {
            conn: job.conn,
            serial: job.serial,
            reply,
        });
        if sent.is_err() {
            return;
        }
        // One wake-up covers every reply sent before the I/O thread clears the
        // flag (it clears it before draining the channel).
        if !wake_pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = waker.wake() {
                log::error!("cannot wake the I/O thread: {e}");
            }
        }
    }
}

/// Waits for SIGTERM or SIGINT (blocked everywhere by `block_stop_signals`) and
/// tells the I/O thread to drain. A second signal stops at once.
fn spawn_signal_thread(stop: Arc<AtomicBool>, waker: Arc<mio::Waker>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let set = stop_signals();
            let mut sig: libc::c_int = 0;
            // SAFETY: a valid, initialized set and an out pointer to an int.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc != 0 {
                continue;
            }
            if stop.swap(true, Ordering::SeqCst) {
                log::warn!("second stop signal: exiting now");
                std::process::exit(1);
            }
            log::info!("signal {sig}: draining connections, then exiting");
            let _ = waker.wake();
        })?;
    Ok(())
}

/// Gives the calling thread `ADMIN_NICE`. Raising one's own nice value needs no
/// privilege; a failure only means admin work competes evenly.
fn lower_priority() {
    // SAFETY: gettid and setpriority on the calling thread only.
    unsafe {
        // The raw syscall: musl's libc only gained gettid() in 1.2.2.
        let tid = libc::syscall(libc::SYS_gettid);
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, ADMIN_NICE) != 0 {
            log::debug!(
                "cannot lower the admin worker's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Raises the soft descriptor limit (often 1024) to the hard one.
fn raise_fd_limit() {
    // SAFETY: plain libc calls on a stack struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `send(2)` with flags (MSG_MORE before a file, MSG_NOSIGNAL always).
fn send_flags(fd: &impl AsRawFd, buf: &[u8], more: bool) -> std::io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: a valid fd and a valid buffer of buf.len() bytes.
    let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `sendfile(2)` from `file` at `offset`, at most `count` bytes.
fn send_file(
    sock: &impl AsRawFd,
    file: &std::fs::File,
    offset: &mut u64,
    count: usize,
) -> std::io::Result<usize> {
    let mut off = *offset as libc::off_t;
    // SAFETY: valid fds and a valid pointer to an off_t.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}
