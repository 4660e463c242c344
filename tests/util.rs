//! Test harness: starts the real `luna2d` binary on an ephemeral loopback port
//! with a fresh data directory, and speaks HTTP/1.1 to it over a plain socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory per test, named after it.
pub fn temp_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir()
        .join("luna2d-tests")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub struct Daemon {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    child: Child,
    token: Option<String>,
}

#[derive(Default)]
pub struct Options {
    pub ini: String,
    pub nofile: Option<u64>,
    /// `--listen`, when not 127.0.0.1:0.
    pub listen: Option<String>,
}

impl Daemon {
    pub fn start(name: &str) -> Daemon {
        Daemon::start_with(name, Options::default())
    }

    pub fn start_with(name: &str, opts: Options) -> Daemon {
        let dir = temp_dir(name);
        Daemon::start_in(&dir, opts)
    }

    /// Starts (or restarts) a daemon on an existing data directory.
    pub fn start_in(dir: &Path, opts: Options) -> Daemon {
        let ini = dir.join("test.ini");
        std::fs::write(&ini, format!("[LOGGER]\nLEVEL = info\n{}", opts.ini)).expect("write ini");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_luna2d"));
        cmd.arg("--listen")
            .arg(opts.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--data")
            .arg(dir.join("var"))
            .arg("--config")
            .arg(&ini);
        cmd.stdout(Stdio::piped()).stderr(stderr);
        if let Some(n) = opts.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn luna2d");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read banner");
        let addr: SocketAddr = match line.trim().strip_prefix("luna2d listening on http://") {
            Some(a) => a.parse().expect("address"),
            None => {
                let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
                panic!("luna2d did not start: {line:?}\n{log}");
            }
        };
        Daemon {
            addr,
            dir: dir.to_path_buf(),
            child,
            token: None,
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The daemon's process id, for sending it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the daemon to exit: its exit status, or None if it
    /// is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    pub fn token(&mut self) -> String {
        match &self.token {
            Some(t) => t.clone(),
            None => self.token_for("luna", "luna"),
        }
    }

    /// Logs in with these credentials; later requests use the token.
    pub fn token_for(&mut self, username: &str, password: &str) -> String {
        let body = serde_json::json!({"username": username, "password": password});
        let r = self.post_raw("/token", None, &body.to_string());
        assert_eq!(r.status, 201, "token: {}", r.text());
        let t = r.json()["token"].as_str().expect("token").to_string();
        self.token = Some(t.clone());
        t
    }

    /// GET with a token.
    pub fn get(&mut self, path: &str) -> Response {
        let t = self.token();
        self.request("GET", path, &[("x-access-tokens", &t)], None)
    }

    /// GET without a token.
    pub fn get_open(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    /// POST JSON with a token.
    pub fn post(&mut self, path: &str, body: Value) -> Response {
        let t = self.token();
        self.request(
            "POST",
            path,
            &[("x-access-tokens", &t)],
            Some(body.to_string().as_bytes()),
        )
    }

    pub fn post_raw(&mut self, path: &str, token: Option<&str>, body: &str) -> Response {
        let headers: Vec<(&str, &str)> = token
            .map(|t| vec![("x-access-tokens", t)])
            .unwrap_or_default();
        self.request("POST", path, &headers, Some(body.as_bytes()))
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let r = raw_request(self.addr, method, path, headers, body);
        match r {
            Ok(r) => r,
            Err(e) => panic!("{method} {path}: {e}\n--- daemon log ---\n{}", self.log()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One request on a fresh connection, read to the end.
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    stream.write_all(&bytes)?;
    read_response(&mut stream)
}

pub fn read_response(stream: &mut TcpStream) -> std::io::Result<Response> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all)?;
    parse_response(&all)
}

pub fn parse_response(all: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::other(m.to_string());
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let mut lines = head.lines();
    let status_line = lines.next().ok_or_else(|| bad("empty"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let body = all[split + 4..].to_vec();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Polls `f` until it returns true or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// How long a test waits for any one reply on a [`Conn`].
const REPLY_WAIT: Duration = Duration::from_secs(20);

/// A client connection that reads replies one at a time and keeps the bytes
/// that belong to the next one (keep-alive, pipelining, `100 Continue`).
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::from_stream(
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"),
        )
    }

    pub fn from_stream(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads one reply, its body delimited by Content-Length (or by the close of
    /// the connection when it has none). 1xx, 204 and 304 replies have no body.
    pub fn response(&mut self) -> std::io::Result<Response> {
        self.read_reply(false)
    }

    /// Reads the reply to a HEAD request: headers only.
    pub fn head_response(&mut self) -> std::io::Result<Response> {
        self.read_reply(true)
    }

    fn read_reply(&mut self, head: bool) -> std::io::Result<Response> {
        let deadline = Instant::now() + REPLY_WAIT;
        let mut closed = false;
        loop {
            if let Some(r) = self.take_reply(head, closed)? {
                return Ok(r);
            }
            if closed {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "closed before a whole reply: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
            closed = self.wait_some(deadline)?;
        }
    }

    /// Takes one whole reply off the buffer, if there is one.
    fn take_reply(&mut self, head: bool, closed: bool) -> std::io::Result<Option<Response>> {
        let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let mut r = parse_response(&self.buf[..end + 4])?;
        let no_body = head || r.status < 200 || r.status == 204 || r.status == 304;
        let len = match (no_body, r.header("Content-Length")) {
            (true, _) => Some(0),
            (false, Some(v)) => Some(
                v.parse::<usize>()
                    .map_err(|_| std::io::Error::other(format!("bad Content-Length {v:?}")))?,
            ),
            (false, None) => None,
        };
        let have = self.buf.len() - (end + 4);
        let take = match len {
            Some(len) if have >= len => len,
            None if closed => have,
            _ => return Ok(None),
        };
        r.body = self.buf[end + 4..end + 4 + take].to_vec();
        self.buf.drain(..end + 4 + take);
        Ok(Some(r))
    }

    fn wait_some(&mut self, deadline: Instant) -> std::io::Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no whole reply in time; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.read_some()
    }

    fn read_some(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n == 0)
    }

    /// Waits up to `limit` for the server to close the connection (end of
    /// stream or reset). Some(bytes that arrived first), or None if it stayed open.
    pub fn closed_within(&mut self, limit: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + limit;
        let mut got = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.buf = got;
                return None;
            }
            self.stream.set_read_timeout(Some(left)).expect("timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(got),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Some(got),
            }
        }
    }
}

/// The `password` column of BMC setup `setup` as stored in the database of
/// the data directory `dir` (sealed, or not).
pub fn stored_bmc_password(dir: &Path, setup: &str) -> String {
    let db = rusqlite::Connection::open(dir.join("var/luna.db")).expect("database");
    db.query_row(
        "SELECT password FROM bmcsetup WHERE name = ?1",
        [setup],
        |r| r.get(0),
    )
    .expect("a stored password")
}
