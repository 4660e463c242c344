//! Hostile clients: each test reproduces one tiny_http 0.12 defect and checks
//! that luna2d answers it and keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{parse_response, raw_request, wait_until, Daemon, Options, Response};

/// Reads one response without waiting for the connection to close.
fn read_one(stream: &mut TcpStream) -> std::io::Result<Response> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    parse_response(&buf)
}

fn version_ok(d: &Daemon) -> bool {
    raw_request(d.addr, "GET", "/version", &[], None).is_ok_and(|r| r.status == 200)
}

#[test]
fn huge_declared_body_is_refused_and_the_daemon_lives() {
    let mut d = Daemon::start("huge-body");
    for len in ["1000000000000", "20000000"] {
        let mut s = TcpStream::connect(d.addr).unwrap();
        write!(s, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
            .unwrap();
        let r = read_one(&mut s).expect("a reply");
        assert_eq!(r.status, 413, "{len}: {}", r.text());
        assert!(r.message().contains("too large"));
        drop(s);
        // The dangerous moment is when the unread body is drained, after the reply.
        std::thread::sleep(Duration::from_millis(1000));
        assert!(d.is_running(), "{}", d.log());
        assert!(version_ok(&d));
    }
}

#[test]
fn clients_stalled_mid_body_do_not_hold_the_workers() {
    let ini = "[SERVER]\nWORKERS = 2\nIO_TIMEOUT = 1s\n";
    let d = Daemon::start_with(
        "slow-body",
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        write!(
            s,
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{{\"username\":"
        )
        .unwrap();
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || version_ok(&d)),
        "workers stayed blocked\n{}",
        d.log()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The stalled clients were told why.
    let r = read_one(&mut stalled[0]).expect("reply to stalled client");
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn oversized_headers_are_refused() {
    let d = Daemon::start("headers");
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("X-Filler-{i}"), "y".into()))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = raw_request(d.addr, "GET", "/version", &refs, None).unwrap();
    assert_eq!(r.status, 431, "{}", r.text());
    let big = "z".repeat(20_000);
    let r = raw_request(d.addr, "GET", "/version", &[("X-Big", &big)], None).unwrap();
    assert_eq!(r.status, 431);
    assert!(version_ok(&d));
}

#[test]
fn accept_recovers_after_descriptors_run_out() {
    let ini = "[SERVER]\nWORKERS = 2\nIO_TIMEOUT = 2s\n";
    let mut d = Daemon::start_with(
        "fds",
        Options {
            ini: ini.into(),
            nofile: Some(48),
        },
    );
    let mut held = Vec::new();
    for _ in 0..60 {
        if let Ok(s) = TcpStream::connect_timeout(&d.addr, Duration::from_millis(500)) {
            held.push(s);
        }
    }
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("accept failed")),
        "descriptors were never exhausted:\n{}",
        d.log()
    );
    drop(held);
    assert!(
        wait_until(Duration::from_secs(20), || version_ok(&d)),
        "never accepted again:\n{}",
        d.log()
    );
    assert!(d.is_running());
    assert!(d.log().contains("accept loop restarted"));
}

#[test]
fn clients_that_stop_reading_a_download_do_not_hold_the_workers() {
    let ini = "[SERVER]\nWORKERS = 2\nIO_TIMEOUT = 1s\n";
    let mut d = Daemon::start_with("stalled-read", Options::default());
    let token = d.token();
    let dir = d.dir.clone();
    d.kill();
    // A node list of several megabytes, seeded straight into the database.
    {
        let db = rusqlite::Connection::open(dir.join("var/luna.db")).unwrap();
        db.execute_batch(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 6000)
             INSERT INTO node (name, groupid, comment)
             SELECT printf('bulk%05d', n), 1, 'a comment to make the listing larger than socket buffers' FROM seq;",
        )
        .unwrap();
    }
    let d = Daemon::start_in(
        &dir,
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let s = TcpStream::connect(d.addr).unwrap();
        set_small_rcvbuf(&s);
        let mut s2 = s.try_clone().unwrap();
        write!(
            s2,
            "GET /config/node HTTP/1.1\r\nHost: x\r\nx-access-tokens: {token}\r\n\r\n"
        )
        .unwrap();
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        wait_until(Duration::from_secs(20), || version_ok(&d)),
        "workers stayed blocked\n{}",
        d.log()
    );
}

fn set_small_rcvbuf(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4096;
    // SAFETY: valid fd and option buffer.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
