//! The HTTP layer: listener, worker pool and the guards around tiny_http.
//!
//! This is the only module that knows tiny_http. It turns each request into an
//! [`Incoming`], hands it to `api::dispatch` on one of a fixed number of worker
//! threads, and writes back the [`Outgoing`] it gets. tiny_http 0.12 has defects a
//! hostile client can use; each guard below names the one it answers:
//!
//! 1. A huge declared `Content-Length` aborts the process when the unread body is
//!    drained: we answer 413 without reading, and `alloc.rs` keeps the drain's
//!    allocation from aborting.
//! 2. Clients that stop mid-body hold workers: the listening socket carries
//!    `SO_RCVTIMEO`/`SO_SNDTIMEO`, which Linux copies to every accepted socket, so
//!    every blocked read or write ends after `[SERVER] IO_TIMEOUT`.
//! 3. When descriptors run out, tiny_http's accept thread ends for good: either
//!    `accept` fails (the error reaches a worker through `recv`) or the
//!    `try_clone` of the new socket panics inside tiny_http (our panic hook sees
//!    the panic's location). Either way a worker builds a new tiny_http server on
//!    a clone of the same listening socket, retrying until it succeeds.
//! 4. A client that stops reading a download: the send timeout, as in (2).
//! 5. Header size and count are unlimited in tiny_http: requests over our limits are
//!    refused with 431 before any work is done. tiny_http has already buffered the
//!    header by then; the read timeout bounds how long a slow sender can keep doing
//!    so (see ARCHITECTURE.md, "Limits").

use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::api::{self, App, Worker};
use crate::config::Config;

/// A request as the API layer sees it.
pub struct Incoming {
    pub method: Method,
    /// The raw URL path (percent-encoded), without the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub remote: Option<std::net::SocketAddr>,
    pub body: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Head,
    Other,
}

/// A reply: status, content type and body, plus headers beyond the usual ones.
pub struct Outgoing {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
}

pub enum Body {
    Bytes(Vec<u8>),
    /// A file streamed from disk, with its length.
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

/// How long an idle worker waits before checking whether the server was rebuilt.
const RECV_POLL: Duration = Duration::from_millis(250);
/// Replies this big leave enough freed memory behind to be worth a trim.
const LARGE_REPLY_BYTES: usize = 1 << 20;
/// Pause between attempts to rebuild the accept loop while descriptors are short.
const REBUILD_RETRY: Duration = Duration::from_millis(100);

/// Set by the panic hook when tiny_http's accept thread panicked.
static ACCEPT_THREAD_DIED: AtomicBool = AtomicBool::new(false);

/// tiny_http clones each accepted socket in its accept thread with
/// `try_clone().unwrap()` (src/util/refined_tcp_stream.rs, the only caller being
/// the accept loop). A panic there means the accept thread is gone.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.location().is_some_and(|l| {
            l.file().contains("tiny_http") && l.file().ends_with("refined_tcp_stream.rs")
        }) {
            ACCEPT_THREAD_DIED.store(true, Ordering::SeqCst);
        }
        previous(info);
    }));
}

struct Listener {
    socket: TcpListener,
    current: RwLock<(u64, Arc<tiny_http::Server>)>,
    rebuild: Mutex<()>,
}

impl Listener {
    fn server(&self) -> (u64, Arc<tiny_http::Server>) {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        (guard.0, guard.1.clone())
    }

    /// Replaces a server whose accept thread has died. Only the first worker to
    /// notice a given generation does the work.
    fn rebuild(&self, generation: u64) {
        let _one_at_a_time = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        if self.server().0 != generation {
            return;
        }
        log::warn!("accept loop stopped; restarting it");
        loop {
            let attempt = self
                .socket
                .try_clone()
                .map_err(|e| e.to_string())
                .and_then(|s| tiny_http::Server::from_listener(s, None).map_err(|e| e.to_string()));
            match attempt {
                Ok(server) => {
                    let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
                    *guard = (generation + 1, Arc::new(server));
                    log::warn!("accept loop restarted");
                    return;
                }
                Err(e) => {
                    log::error!("cannot restart accept loop yet: {e}");
                    std::thread::sleep(REBUILD_RETRY);
                }
            }
        }
    }
}

/// Binds the listener and returns the address actually bound (port 0 picks one).
pub fn bind(cfg: &Config) -> std::io::Result<TcpListener> {
    raise_fd_limit();
    let socket = TcpListener::bind(cfg.listen)?;
    set_timeouts(&socket, cfg.io_timeout)?;
    set_nodelay(&socket)?;
    Ok(socket)
}

/// Serves until the process is killed. `workers` threads each own a database
/// connection (see `api::Worker`).
/// `ready` runs once every worker holds its database connection.
pub fn serve(socket: TcpListener, app: Arc<App>, ready: impl FnOnce()) -> std::io::Result<()> {
    install_panic_hook();
    let server = tiny_http::Server::from_listener(socket.try_clone()?, None)
        .map_err(std::io::Error::other)?;
    let listener = Arc::new(Listener {
        socket,
        current: RwLock::new((0, Arc::new(server))),
        rebuild: Mutex::new(()),
    });
    let workers: Vec<Worker> = (0..app.config.workers)
        .map(|_| Worker::new(app.clone()).map_err(std::io::Error::other))
        .collect::<Result<_, _>>()?;
    let mut handles = Vec::new();
    for (idx, worker) in workers.into_iter().enumerate() {
        let listener = listener.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("worker-{idx}"))
                .spawn(move || worker_loop(&listener, worker))?,
        );
    }
    ready();
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn worker_loop(listener: &Listener, mut worker: Worker) {
    loop {
        let (generation, server) = listener.server();
        if ACCEPT_THREAD_DIED.swap(false, Ordering::SeqCst) {
            log::error!("accept failed: tiny_http's accept thread panicked");
            drop(server);
            listener.rebuild(generation);
            continue;
        }
        match server.recv_timeout(RECV_POLL) {
            Ok(Some(request)) => handle(&mut worker, request),
            Ok(None) => {}
            Err(e) => {
                log::error!("accept failed: {e}");
                drop(server);
                listener.rebuild(generation);
            }
        }
    }
}

fn handle(worker: &mut Worker, mut request: tiny_http::Request) {
    let started = Instant::now();
    let limits = &worker.app.config;
    let method = match request.method() {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Post => Method::Post,
        tiny_http::Method::Head => Method::Head,
        _ => Method::Other,
    };
    let url = request.url().to_string();
    let path = url
        .split_once('?')
        .map(|(p, _)| p.to_string())
        .unwrap_or_else(|| url.clone());
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 4)
        .sum::<usize>()
        + url.len();

    let early = if headers.len() > limits.header_count_max || header_bytes > limits.header_bytes_max
    {
        Some(api::error_reply(431, "request header fields too large"))
    } else if request
        .body_length()
        .is_some_and(|n| n as u64 > limits.body_bytes_max)
    {
        Some(api::error_reply(
            413,
            &format!(
                "request body too large: the limit is {} bytes",
                limits.body_bytes_max
            ),
        ))
    } else {
        None
    };
    let mut close = early.is_some();
    let reply = match early {
        Some(r) => r,
        None => match read_body(&mut request, limits.body_bytes_max) {
            Err(r) => {
                close = true;
                r
            }
            Ok(body) => {
                let incoming = Incoming {
                    method,
                    path: path.clone(),
                    headers,
                    remote: request.remote_addr().copied(),
                    body,
                };
                match catch_unwind(AssertUnwindSafe(|| api::dispatch(worker, &incoming))) {
                    Ok(r) => r,
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        log::error!("PANIC in {path}: {what}");
                        worker.reset();
                        api::error_reply(500, "internal error")
                    }
                }
            }
        },
    };
    let status = reply.status;
    let large = matches!(&reply.body, Body::Bytes(b) if b.len() >= LARGE_REPLY_BYTES);
    respond(request, reply, close);
    if large {
        crate::alloc::trim();
    }
    log::info!(
        "{} {} {} {:.1}ms",
        method_name(method),
        path,
        status,
        started.elapsed().as_secs_f64() * 1000.0
    );
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Head => "HEAD",
        Method::Other => "OTHER",
    }
}

/// Reads at most `max` bytes of body. A body that does not arrive within the I/O
/// timeout, or is longer than declared limits, gets an error reply.
fn read_body(request: &mut tiny_http::Request, max: u64) -> Result<Vec<u8>, Outgoing> {
    let mut body = Vec::new();
    let mut reader = request.as_reader().take(max + 1);
    match reader.read_to_end(&mut body) {
        Ok(_) if body.len() as u64 > max => Err(api::error_reply(
            413,
            &format!("request body too large: the limit is {max} bytes"),
        )),
        Ok(_) => Ok(body),
        Err(e) => Err(api::error_reply(
            400,
            &format!("request body could not be read: {e}"),
        )),
    }
}

fn respond(request: tiny_http::Request, reply: Outgoing, close: bool) {
    let mut headers = vec![header("Content-Type", reply.content_type)];
    if close {
        headers.push(header("Connection", "close"));
    }
    for (k, v) in &reply.headers {
        headers.push(header(k, v));
    }
    let status = tiny_http::StatusCode(reply.status);
    let result = match reply.body {
        Body::Bytes(bytes) => {
            let len = bytes.len();
            request.respond(
                tiny_http::Response::new(
                    status,
                    headers,
                    std::io::Cursor::new(bytes),
                    Some(len),
                    None,
                )
                .with_chunked_threshold(usize::MAX),
            )
        }
        // Streamed in tiny_http's buffer-sized pieces, never read whole into memory.
        Body::File(file, len) => request.respond(
            tiny_http::Response::new(status, headers, file, Some(len as usize), None)
                .with_chunked_threshold(usize::MAX),
        ),
    };
    if let Err(e) = result {
        log::debug!("response not delivered: {e}");
    }
}

fn header(k: &str, v: &str) -> tiny_http::Header {
    // Only our own constant names and sanitized values reach here; a value that is
    // not valid header text is replaced rather than panicking.
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap_or_else(|_| {
        tiny_http::Header::from_bytes(k.as_bytes(), &b"invalid"[..]).expect("constant header")
    })
}

/// Linux copies `SO_RCVTIMEO` and `SO_SNDTIMEO` from a listening socket to each
/// socket `accept` returns, so setting them here bounds every read and write
/// tiny_http does on a client connection.
fn set_timeouts(socket: &TcpListener, timeout: Duration) -> std::io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: a valid fd, a valid pointer to a timeval and its size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// tiny_http writes a response's head and body separately; with Nagle's
/// algorithm on, a body over one segment then waits for the client's delayed ACK
/// (40 ms). Accepted sockets inherit `TCP_NODELAY` from the listener on Linux.
fn set_nodelay(socket: &TcpListener) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid fd, a valid pointer to an int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A boot storm opens thousands of connections; the soft descriptor limit
/// (often 1024) is raised to the hard one.
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
