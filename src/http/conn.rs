//! One client connection: a state machine the I/O thread drives whenever the
//! socket is ready, a reply arrives or a deadline passes.
//!
//! Phases, each with its own deadline:
//! - `Idle`: a keep-alive connection between requests (`IDLE_TIMEOUT`, then a
//!   silent close);
//! - `Head`: a head has begun (`HEAD_TIMEOUT` from its first byte, then 408);
//! - `Body`: `BODY_TIMEOUT` plus the bytes received at `BODY_RATE_MIN` (408);
//! - `Dispatched`: a worker has the request; no deadline, the client waits on us;
//! - `Writing`: `SEND_TIMEOUT` plus the bytes sent at `SEND_RATE_MIN` (dropped);
//! - `Linger`: after a reply that ends the connection, our side is shut and what
//!   the client still sends is read and discarded for a moment, so that closing
//!   with unread bytes does not reset the connection before the client has read
//!   the reply.
//!
//! While a request is with a worker or its reply is being written, nothing more
//! is read: pipelined requests wait in the buffer (and in the kernel), so they are
//! answered in order and one connection holds at most one request's memory.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::parse::{self, Chunked, Framing, Head, HeadLimits, Refusal};
use super::reply::{self, Connection, DateCache, Range};
use super::{Body, Incoming, Method, Outgoing};
use crate::config::Config;

/// Bytes written to one connection per turn of the loop before others get theirs.
const WRITE_TURN_BYTES_MAX: usize = 512 * 1024;
/// How long a closing connection's input is drained, and how much of it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES_MAX: usize = 1 << 20;
/// A declared body gets this much memory before its bytes arrive.
const BODY_PREALLOC_BYTES_MAX: usize = 64 * 1024;
/// Replies this big leave enough freed memory behind to be worth a trim.
const LARGE_REPLY_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Head,
    Body,
    Dispatched,
    Writing,
    Linger,
}

/// What the loop must do after driving a connection.
pub enum Step {
    /// Nothing until the next event, reply or deadline.
    Wait,
    /// More can be done at once (a write turn ended before the socket was full).
    Again,
    /// A complete request for a worker.
    Dispatch(String, Incoming),
    Close,
}

/// Shared per-turn state the loop lends to connections.
pub struct Turn<'a> {
    pub limits: &'a Config,
    pub scratch: &'a mut [u8],
    pub date: &'a mut DateCache,
    pub now: Instant,
    /// The daemon is stopping: no connection is kept alive.
    pub draining: bool,
}

/// A request whose body is being read.
struct Reading {
    head: Head,
    body: Vec<u8>,
    chunked: Option<Chunked>,
    started: Instant,
}

/// A reply being written.
struct Writing {
    head: Vec<u8>,
    head_sent: usize,
    body: OutBody,
    started: Instant,
    sent: u64,
    large: bool,
}

enum OutBody {
    None,
    Bytes(Vec<u8>, usize),
    File {
        file: std::fs::File,
        offset: u64,
        end: u64,
    },
}

pub struct Conn {
    pub stream: TcpStream,
    pub remote: SocketAddr,
    pub serial: u64,
    pub phase: Phase,
    pub deadline: Instant,
    /// When the connection last completed a request or was accepted: the
    /// oldest idle connection is shed first.
    pub since: Instant,
    inbuf: Vec<u8>,
    /// Bytes of `inbuf` already searched for the end of a head.
    scanned: usize,
    reading: Option<Box<Reading>>,
    writing: Option<Box<Writing>>,
    /// What the request being answered asked for.
    keep_alive: bool,
    http11: bool,
    head_only: bool,
    range: Option<String>,
    lingered: usize,
}

impl Conn {
    pub fn new(stream: TcpStream, remote: SocketAddr, serial: u64, turn: &Turn) -> Conn {
        Conn {
            stream,
            remote,
            serial,
            phase: Phase::Idle,
            deadline: turn.now + turn.limits.idle_timeout,
            since: turn.now,
            inbuf: Vec::new(),
            scanned: 0,
            reading: None,
            writing: None,
            keep_alive: true,
            http11: true,
            head_only: false,
            range: None,
            lingered: 0,
        }
    }

    /// Does whatever the socket and buffers allow now.
    pub fn drive(&mut self, turn: &mut Turn) -> Step {
        loop {
            let step = match self.phase {
                Phase::Idle | Phase::Head => self.read_head(turn),
                Phase::Body => self.read_body(turn),
                Phase::Dispatched => return Step::Wait,
                Phase::Writing => self.write(turn),
                Phase::Linger => self.linger(turn),
            };
            match step {
                Some(step) => return step,
                None => continue,
            }
        }
    }

    /// The deadline of the current phase has passed.
    pub fn expire(&mut self, turn: &mut Turn) -> Step {
        match self.phase {
            Phase::Idle | Phase::Linger => Step::Close,
            Phase::Writing => {
                // The client may have read more since the last write turn.
                if let Some(w) = &self.writing {
                    let deadline = send_deadline(&self.stream, w, turn.limits);
                    if deadline > turn.now {
                        self.deadline = deadline;
                        return Step::Wait;
                    }
                }
                // What the kernel still holds for this client is dropped too
                // (a reset, not an orphaned socket trickling it out).
                abort_on_close(&self.stream);
                log::info!("{}: reply not read in time; dropped", self.remote);
                Step::Close
            }
            Phase::Dispatched => Step::Wait,
            Phase::Head => {
                self.refuse(
                    turn,
                    Refusal::new(
                        408,
                        format!(
                            "request head not received within {}s",
                            turn.limits.head_timeout.as_secs()
                        ),
                    ),
                );
                self.drive(turn)
            }
            Phase::Body => {
                self.refuse(
                    turn,
                    Refusal::new(
                        408,
                        format!(
                            "request body not received in time ({}s plus {} bytes per second)",
                            turn.limits.body_timeout.as_secs(),
                            turn.limits.body_rate_min
                        ),
                    ),
                );
                self.drive(turn)
            }
        }
    }

    /// The daemon is stopping: connections between requests go now, the others
    /// after their reply.
    pub fn stop(&mut self) -> bool {
        self.keep_alive = false;
        matches!(self.phase, Phase::Idle | Phase::Head | Phase::Linger)
    }

    /// A worker's reply for the request this connection dispatched.
    pub fn reply(&mut self, turn: &mut Turn, reply: Outgoing) -> Step {
        if self.phase != Phase::Dispatched {
            return Step::Wait;
        }
        self.start_reply(turn, reply);
        self.drive(turn)
    }

    fn read_head(&mut self, turn: &mut Turn) -> Option<Step> {
        let head_limits = HeadLimits {
            header_bytes_max: turn.limits.header_bytes_max,
            header_count_max: turn.limits.header_count_max,
            body_bytes_max: turn.limits.body_bytes_max,
        };
        // Blank lines before a request line are ignored (RFC 9112 §2.2).
        while self.inbuf.starts_with(b"\r\n") || self.inbuf.starts_with(b"\n") {
            let n = if self.inbuf[0] == b'\r' { 2 } else { 1 };
            self.inbuf.drain(..n);
            self.scanned = 0;
        }
        if !self.inbuf.is_empty() && self.phase == Phase::Idle {
            self.phase = Phase::Head;
            self.deadline = turn.now + turn.limits.head_timeout;
        }
        if let Some(end) = parse::head_end(&self.inbuf, self.scanned) {
            if end > head_limits.header_bytes_max {
                self.refuse(turn, parse::too_large_head(&head_limits));
                return None;
            }
            match parse::head(&self.inbuf[..end], &head_limits) {
                Ok(head) => self.start_request(turn, head),
                Err(refusal) => self.refuse(turn, refusal),
            }
            return None;
        }
        self.scanned = self.inbuf.len();
        if self.inbuf.len() > head_limits.header_bytes_max {
            self.refuse(turn, parse::too_large_head(&head_limits));
            return None;
        }
        match self.fill(turn) {
            Ok(0) => Some(Step::Close),
            Ok(_) => None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => Some(Step::Wait),
            Err(_) => Some(Step::Close),
        }
    }

    fn start_request(&mut self, turn: &mut Turn, head: Head) {
        self.inbuf.drain(..head.len);
        self.scanned = 0;
        self.keep_alive = head.keep_alive && !turn.draining;
        self.http11 = head.http11;
        self.head_only = head.method == Method::Head;
        let chunked = match head.framing {
            Framing::Chunked => Some(Chunked::new()),
            Framing::Length(_) => None,
        };
        // The declared length is trusted only as far as the first bytes.
        let capacity = match head.framing {
            Framing::Length(n) => (n as usize).min(BODY_PREALLOC_BYTES_MAX),
            Framing::Chunked => 0,
        };
        let expect_continue = head.expect_continue;
        let declared = head.framing;
        self.reading = Some(Box::new(Reading {
            head,
            body: Vec::with_capacity(capacity),
            chunked,
            started: turn.now,
        }));
        self.phase = Phase::Body;
        self.deadline = turn.now + turn.limits.body_timeout;
        // Ask for the body only if it is not already here.
        let have_all = matches!(declared, Framing::Length(n) if n as usize <= self.inbuf.len());
        if expect_continue && !have_all {
            let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
            // A fresh head leaves the socket's send buffer empty: the few bytes
            // go at once or the connection is beyond saving.
            if !matches!(super::send_flags(&self.stream, interim, false), Ok(n) if n == interim.len())
            {
                self.keep_alive = false;
                self.reading = None;
                self.phase = Phase::Linger;
                self.deadline = turn.now;
            }
        }
    }

    fn read_body(&mut self, turn: &mut Turn) -> Option<Step> {
        let Some(reading) = self.reading.as_mut() else {
            self.phase = Phase::Idle;
            return None;
        };
        let used = match (&mut reading.chunked, reading.head.framing) {
            (Some(dec), _) => match dec.feed(
                &self.inbuf,
                &mut reading.body,
                turn.limits.body_bytes_max,
                turn.limits.header_bytes_max,
            ) {
                Ok(n) => n,
                Err(refusal) => {
                    self.refuse(turn, refusal);
                    return None;
                }
            },
            (None, Framing::Length(n)) => {
                let want = (n as usize).saturating_sub(reading.body.len());
                let take = want.min(self.inbuf.len());
                reading.body.extend_from_slice(&self.inbuf[..take]);
                take
            }
            (None, Framing::Chunked) => 0,
        };
        self.inbuf.drain(..used);
        let complete = match (&reading.chunked, reading.head.framing) {
            (Some(dec), _) => dec.done(),
            (None, Framing::Length(n)) => reading.body.len() as u64 >= n,
            (None, Framing::Chunked) => true,
        };
        if complete {
            return Some(self.dispatch());
        }
        let received = reading.body.len() as u64;
        self.deadline = reading.started
            + turn.limits.body_timeout
            + Duration::from_secs_f64(received as f64 / turn.limits.body_rate_min as f64);
        match self.fill(turn) {
            Ok(0) => Some(Step::Close),
            Ok(_) => None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => Some(Step::Wait),
            Err(_) => Some(Step::Close),
        }
    }

    fn dispatch(&mut self) -> Step {
        let Some(reading) = self.reading.take() else {
            return Step::Close;
        };
        let Reading { head, body, .. } = *reading;
        self.range = head.range;
        self.phase = Phase::Dispatched;
        self.deadline = far_future();
        let req = Incoming {
            method: head.method,
            path: head.path,
            query: head.query,
            headers: head.headers,
            remote: Some(self.remote),
            body,
        };
        Step::Dispatch(head.method_name, req)
    }

    /// Answers the request with an error and ends the connection.
    fn refuse(&mut self, turn: &mut Turn, refusal: Refusal) {
        log::info!(
            "{} refused: {} {}",
            self.remote,
            refusal.status,
            refusal.message
        );
        self.keep_alive = false;
        self.head_only = false;
        self.range = None;
        self.reading = None;
        self.inbuf = Vec::new();
        self.scanned = 0;
        self.start_reply(turn, reply::error(refusal.status, &refusal.message));
    }

    fn start_reply(&mut self, turn: &mut Turn, mut out: Outgoing) {
        if turn.draining {
            self.keep_alive = false;
        }
        let mut body = match std::mem::replace(&mut out.body, Body::Bytes(Vec::new())) {
            Body::Bytes(b) => OutBody::Bytes(b, 0),
            Body::File(file, len) => OutBody::File {
                file,
                offset: 0,
                end: len,
            },
        };
        if let (Some(range), OutBody::File { offset, end, .. }) = (self.range.take(), &mut body) {
            if out.status == 200 {
                let len = *end;
                match reply::range(&range, len) {
                    Range::Whole => {}
                    Range::Part(a, b) => {
                        out.status = 206;
                        out.headers
                            .push(("Content-Range", format!("bytes {a}-{b}/{len}")));
                        *offset = a;
                        *end = b + 1;
                    }
                    Range::Unsatisfiable => {
                        let mut refused = reply::error(
                            416,
                            &format!("range '{range}' is outside the file's {len} bytes"),
                        );
                        refused
                            .headers
                            .push(("Content-Range", format!("bytes */{len}")));
                        out = refused;
                        body = match std::mem::replace(&mut out.body, Body::Bytes(Vec::new())) {
                            Body::Bytes(b) => OutBody::Bytes(b, 0),
                            Body::File(..) => OutBody::None,
                        };
                    }
                }
            }
        }
        if matches!(body, OutBody::File { .. }) {
            out.headers.push(("Accept-Ranges", "bytes".into()));
        }
        let length = match &body {
            OutBody::None => 0,
            OutBody::Bytes(b, _) => b.len() as u64,
            OutBody::File { offset, end, .. } => end - offset,
        };
        let connection = match (self.keep_alive, self.http11) {
            (false, _) => Connection::Close,
            (true, true) => Connection::Default,
            (true, false) => Connection::KeepAlive10,
        };
        let mut head = Vec::with_capacity(256);
        reply::head(&mut head, &out, length, turn.date.now(), connection);
        if self.head_only {
            body = OutBody::None;
        }
        let large = matches!(&body, OutBody::Bytes(b, _) if b.len() >= LARGE_REPLY_BYTES);
        self.writing = Some(Box::new(Writing {
            head,
            head_sent: 0,
            body,
            started: turn.now,
            sent: 0,
            large,
        }));
        self.phase = Phase::Writing;
        self.deadline = turn.now + turn.limits.send_timeout;
    }

    fn write(&mut self, turn: &mut Turn) -> Option<Step> {
        let Some(w) = self.writing.as_mut() else {
            self.phase = Phase::Idle;
            return None;
        };
        let mut budget = WRITE_TURN_BYTES_MAX;
        let result = loop {
            if budget == 0 {
                break Ok(false);
            }
            let pending_head = &w.head[w.head_sent..];
            let attempt = match &mut w.body {
                OutBody::Bytes(b, pos) if !pending_head.is_empty() => {
                    let slices = [
                        std::io::IoSlice::new(pending_head),
                        std::io::IoSlice::new(&b[*pos..]),
                    ];
                    self.stream.write_vectored(&slices).inspect(|&n| {
                        let from_head = n.min(pending_head.len());
                        w.head_sent += from_head;
                        *pos += n - from_head;
                    })
                }
                OutBody::File { offset, end, .. } if !pending_head.is_empty() => {
                    let more = offset < end;
                    super::send_flags(&self.stream, pending_head, more).inspect(|&n| {
                        w.head_sent += n;
                    })
                }
                OutBody::None if !pending_head.is_empty() => {
                    super::send_flags(&self.stream, pending_head, false).inspect(|&n| {
                        w.head_sent += n;
                    })
                }
                OutBody::Bytes(b, pos) if *pos < b.len() => {
                    let n = (b.len() - *pos).min(budget);
                    self.stream.write(&b[*pos..*pos + n]).inspect(|&n| {
                        *pos += n;
                    })
                }
                OutBody::File { file, offset, end } if *offset < *end => {
                    let n = ((*end - *offset) as usize).min(budget);
                    super::send_file(&self.stream, file, offset, n)
                }
                _ => break Ok(true),
            };
            match attempt {
                Ok(0) => break Err(()),
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    w.sent += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break Err(()),
            }
        };
        match result {
            Err(()) => Some(Step::Close),
            Ok(false) => {
                self.deadline = send_deadline(&self.stream, w, turn.limits);
                Some(if budget == 0 { Step::Again } else { Step::Wait })
            }
            Ok(true) => {
                let large = w.large;
                self.writing = None;
                if large {
                    crate::alloc::trim();
                }
                if self.keep_alive && !turn.draining {
                    self.phase = Phase::Idle;
                    self.since = turn.now;
                    self.deadline = turn.now + turn.limits.idle_timeout;
                    self.head_only = false;
                    // An idle connection holds no buffer.
                    if self.inbuf.is_empty() {
                        self.inbuf = Vec::new();
                    }
                } else {
                    let _ = self.stream.shutdown(std::net::Shutdown::Write);
                    self.phase = Phase::Linger;
                    self.deadline = turn.now + LINGER;
                    self.inbuf = Vec::new();
                }
                None
            }
        }
    }

    fn linger(&mut self, turn: &mut Turn) -> Option<Step> {
        loop {
            match self.stream.read(turn.scratch) {
                Ok(0) => return Some(Step::Close),
                Ok(n) => {
                    self.lingered += n;
                    if self.lingered > LINGER_BYTES_MAX {
                        return Some(Step::Close);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Some(Step::Wait),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Step::Close),
            }
        }
    }

    /// Reads what the socket has into `inbuf`, one scratch buffer at a time.
    /// `Ok(0)` is the end of the stream.
    fn fill(&mut self, turn: &mut Turn) -> std::io::Result<usize> {
        loop {
            match self.stream.read(turn.scratch) {
                Ok(n) => {
                    self.inbuf.extend_from_slice(&turn.scratch[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// When a reply being written runs out of time: `SEND_TIMEOUT` after it began
/// plus what the client has received at `SEND_RATE_MIN`. Received, not written:
/// the kernel accepts megabytes into the socket's send buffer for a client
/// that reads nothing, so what it still holds (`SIOCOUTQ`) does not count.
fn send_deadline(stream: &TcpStream, w: &Writing, limits: &Config) -> Instant {
    use std::os::fd::AsRawFd;
    let mut queued: libc::c_int = 0;
    // SAFETY: a valid fd and a pointer to an int, as SIOCOUTQ expects.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    let queued = if rc == 0 { queued.max(0) as u64 } else { 0 };
    let received = w.sent.saturating_sub(queued);
    w.started
        + limits.send_timeout
        + Duration::from_secs_f64(received as f64 / limits.send_rate_min as f64)
}

/// `SO_LINGER` of zero: closing resets the connection and frees its buffers.
fn abort_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid fd and a valid pointer to a linger struct of that size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The deadline of a phase without one.
pub fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 86_400)
}
