//! The I/O thread: one `mio` readiness loop over the listener, every client
//! connection and the workers' replies.
//!
//! Each turn it handles the ready sockets, takes the workers' replies, gives
//! connections that used up their write turn another one, and about four times a
//! second checks every connection's deadline. It never blocks on a client: all
//! sockets are non-blocking and every phase has a deadline (`conn.rs`).
//!
//! Accepting stops for a moment when the process is out of descriptors (EMFILE)
//! and resumes on its own; at `CONNECTIONS_MAX` the oldest idle connection is
//! closed to make room. On SIGTERM the listener is closed, idle connections are
//! closed, and the loop ends once the rest have been answered or
//! `DRAIN_TIMEOUT` has passed.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use super::conn::{Conn, Phase, Step, Turn};
use super::reply::DateCache;
use super::{Done, Incoming, Job, Lane};
use crate::config::Config;

/// The workers' queues, one per lane, and how a request picks its lane.
pub struct Lanes {
    pub boot: Sender<Job>,
    pub admin: Sender<Job>,
    pub lane: fn(&Incoming) -> Lane,
}

const LISTENER: Token = Token(0);
pub const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;

/// How often every connection's deadline is checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// How long accepting pauses when descriptors run out.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Connections accepted per turn, so a flood of new ones cannot starve the rest.
const ACCEPT_TURN_MAX: usize = 256;
const EVENTS_CAPACITY: usize = 1024;
const SCRATCH_BYTES: usize = 64 * 1024;

pub struct EventLoop {
    poll: Poll,
    listener: Option<TcpListener>,
    limits: Config,
    /// Closed (None) when the loop ends, which lets the workers exit.
    lanes: Option<Lanes>,
    done: Receiver<Done>,
    wake_pending: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    next_serial: u64,
    /// Connections with work left after their turn.
    again: Vec<usize>,
    /// Requests with a worker.
    in_flight: usize,
    accept_more: bool,
    accept_paused_until: Option<Instant>,
    /// Accepting has been failing for lack of descriptors (logged once).
    accept_failing: bool,
    date: DateCache,
    scratch: Vec<u8>,
}

impl EventLoop {
    pub fn new(
        poll: Poll,
        mut listener: TcpListener,
        limits: Config,
        lanes: Lanes,
        done: Receiver<Done>,
        wake_pending: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<EventLoop> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(EventLoop {
            poll,
            listener: Some(listener),
            limits,
            lanes: Some(lanes),
            done,
            wake_pending,
            stop,
            conns: Vec::new(),
            free: Vec::new(),
            open: 0,
            next_serial: 0,
            again: Vec::new(),
            in_flight: 0,
            accept_more: false,
            accept_paused_until: None,
            accept_failing: false,
            date: DateCache::new(),
            scratch: vec![0; SCRATCH_BYTES],
        })
    }

    /// Runs until a stop signal has been handled. Returns the drain deadline,
    /// which bounds how long the caller waits for the workers.
    pub fn run(&mut self) -> std::io::Result<Instant> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut last_sweep = Instant::now();
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let accept_now = self.accept_more && self.accept_paused_until.is_none();
            let timeout = if !self.again.is_empty() || accept_now {
                Duration::ZERO
            } else {
                let mut t = SWEEP_INTERVAL;
                if let Some(until) = self.accept_paused_until {
                    t = t.min(until.saturating_duration_since(Instant::now()));
                }
                t
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_more = true,
                    WAKER => {}
                    Token(t) => self.drive(t - FIRST_CONN, now, |c, turn| c.drive(turn)),
                }
            }
            self.take_replies(now);
            for idx in std::mem::take(&mut self.again) {
                self.drive(idx, now, |c, turn| c.drive(turn));
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.accept_more = true;
            }
            if self.accept_more && self.accept_paused_until.is_none() {
                self.accept(now);
            }
            if now.duration_since(last_sweep) >= SWEEP_INTERVAL {
                last_sweep = now;
                self.sweep(now);
            }
            if drain_deadline.is_none() && self.stop.load(Ordering::SeqCst) {
                drain_deadline = Some(now + self.limits.drain_timeout);
                self.begin_drain();
            }
            if let Some(deadline) = drain_deadline {
                if (self.open == 0 && self.in_flight == 0) || now >= deadline {
                    if self.open > 0 {
                        log::warn!(
                            "DRAIN_TIMEOUT passed with {} connections open; closing them",
                            self.open
                        );
                    }
                    log::info!("stopped");
                    return Ok(deadline);
                }
            }
        }
    }

    fn turn(&mut self, now: Instant) -> (Turn<'_>, &mut Vec<Option<Conn>>) {
        (
            Turn {
                limits: &self.limits,
                scratch: &mut self.scratch,
                date: &mut self.date,
                now,
                draining: self.listener.is_none(),
            },
            &mut self.conns,
        )
    }

    /// Runs `f` on connection `idx` and carries out the step it returns.
    fn drive(&mut self, idx: usize, now: Instant, f: impl FnOnce(&mut Conn, &mut Turn) -> Step) {
        let (mut turn, conns) = self.turn(now);
        let Some(Some(conn)) = conns.get_mut(idx) else {
            return;
        };
        let step = f(conn, &mut turn);
        let serial = conn.serial;
        match step {
            Step::Wait => {}
            Step::Again => self.again.push(idx),
            Step::Dispatch(method_name, req) => {
                let job = Job {
                    conn: idx,
                    serial,
                    method_name,
                    req,
                };
                let sent = match &self.lanes {
                    Some(lanes) => match (lanes.lane)(&job.req) {
                        Lane::Boot => lanes.boot.send(job).is_ok(),
                        Lane::Admin => lanes.admin.send(job).is_ok(),
                    },
                    None => false,
                };
                if sent {
                    self.in_flight += 1;
                } else {
                    self.close(idx);
                }
            }
            Step::Close => self.close(idx),
        }
    }

    fn take_replies(&mut self, now: Instant) {
        // Cleared before draining: a reply sent after this point wakes us again.
        self.wake_pending.store(false, Ordering::Release);
        while let Ok(done) = self.done.try_recv() {
            self.in_flight = self.in_flight.saturating_sub(1);
            let matches =
                matches!(self.conns.get(done.conn), Some(Some(c)) if c.serial == done.serial);
            if matches {
                self.drive(done.conn, now, |c, turn| c.reply(turn, done.reply));
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        self.accept_more = false;
        for _ in 0..ACCEPT_TURN_MAX {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, remote)) => {
                    if std::mem::take(&mut self.accept_failing) {
                        log::warn!("accepting connections again");
                    }
                    if self.open >= self.limits.connections_max && !self.shed() {
                        log::warn!(
                            "{remote}: refused, {} connections open (CONNECTIONS_MAX)",
                            self.open
                        );
                        continue;
                    }
                    self.admit(stream, remote, now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if out_of_resources(&e) => {
                    // Once per episode: it repeats every ACCEPT_BACKOFF until
                    // descriptors free up.
                    if !self.accept_failing {
                        log::error!(
                            "accept failed: {e}; retrying every {} ms",
                            ACCEPT_BACKOFF.as_millis()
                        );
                    }
                    self.accept_failing = true;
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
                // The peer gave up between SYN and accept (ECONNABORTED) and
                // the like: that connection is gone, the next may be fine.
                Err(e) => log::debug!("accept: {e}"),
            }
        }
        self.accept_more = true;
    }

    fn admit(
        &mut self,
        mut stream: mio::net::TcpStream,
        remote: std::net::SocketAddr,
        now: Instant,
    ) {
        // Replies go out whole; Nagle would hold a reply's last segment back
        // for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        let registered = self.poll.registry().register(
            &mut stream,
            Token(idx + FIRST_CONN),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            log::error!("{remote}: cannot watch the connection: {e}");
            self.free.push(idx);
            return;
        }
        self.next_serial += 1;
        let serial = self.next_serial;
        let (turn, conns) = self.turn(now);
        conns[idx] = Some(Conn::new(stream, remote, serial, &turn));
        self.open += 1;
    }

    /// Closes the oldest idle connection, or failing that the oldest one still
    /// sending its head, to admit a new one. False if every connection is busy.
    fn shed(&mut self) -> bool {
        let pick = |phase: Phase| {
            self.conns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
                .filter(|(_, c)| c.phase == phase)
                .min_by_key(|(_, c)| c.since)
                .map(|(i, _)| i)
        };
        match pick(Phase::Idle).or_else(|| pick(Phase::Head)) {
            Some(victim) => {
                log::info!("CONNECTIONS_MAX reached: closing the oldest idle connection");
                self.close(victim);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, idx: usize) {
        if let Some(slot) = self.conns.get_mut(idx) {
            if let Some(mut conn) = slot.take() {
                let _ = self.poll.registry().deregister(&mut conn.stream);
                self.free.push(idx);
                self.open -= 1;
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        for idx in 0..self.conns.len() {
            let expired = matches!(&self.conns[idx], Some(c) if c.deadline <= now);
            if expired {
                self.drive(idx, now, |c, turn| c.expire(turn));
            }
        }
    }

    /// Stops accepting and ends keep-alive; connections between requests close now.
    fn begin_drain(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_more = false;
        self.accept_paused_until = None;
        log::info!(
            "draining: {} connections open, {} requests in flight",
            self.open,
            self.in_flight
        );
        for idx in 0..self.conns.len() {
            let close_now = match &mut self.conns[idx] {
                Some(c) => c.stop(),
                None => false,
            };
            if close_now {
                self.close(idx);
            }
        }
        // Replies still to come end their connections (see `Turn::draining`).
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Closing the job channel lets every worker finish and exit.
        self.lanes = None;
    }
}

/// Errors that mean "no descriptor or memory for another socket right now".
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
