//! Hostile clients: huge declared bodies, stalled bodies and heads, oversized
//! headers, descriptor exhaustion and clients that never read. luna2d answers
//! each, keeps serving, and never lets them starve the boot path.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{raw_request, wait_until, Conn, Daemon, Options};

/// The MAC of the one bootable node `boot_ready` creates.
const MAC: &str = "aa:bb:cc:dd:ee:01";

fn version_ok(d: &Daemon) -> bool {
    raw_request(d.addr, "GET", "/version", &[], None).is_ok_and(|r| r.status == 200)
}

/// A daemon with one bootable node (MAC `MAC`), `bulk` more nodes seeded
/// straight into SQLite, and `ini`; and a token.
fn boot_ready(name: &str, bulk: usize, ini: &str) -> (Daemon, String) {
    let mut d = Daemon::start(name);
    let token = d.token();
    let r = d.post(
        "/config/node/node001",
        json!({"config": {"node": {"node001": {"group": "compute",
            "interfaces": [{"interface": "BOOTIF", "macaddress": MAC}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let dir = d.dir.clone();
    d.kill();
    seed(&dir, bulk);
    let d = Daemon::start_in(
        &dir,
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    (d, token)
}

fn seed(dir: &Path, bulk: usize) {
    let db = rusqlite::Connection::open(dir.join("var/luna.db")).unwrap();
    db.execute(
        "UPDATE osimage SET kernelfile = 'compute-vmlinuz', initrdfile = 'compute-initrd.img', imagefile = 'compute.tar.gz'",
        [],
    )
    .unwrap();
    if bulk == 0 {
        return;
    }
    db.execute_batch(&format!(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {bulk})
         INSERT INTO node (name, groupid, comment)
         SELECT printf('bulk%05d', n), 1, 'a comment to make the listing larger than socket buffers' FROM seq;"
    ))
    .unwrap();
}

/// One boot-script request on a fresh connection: 200, in well under a second.
fn assert_boot_prompt(d: &Daemon, what: &str) {
    let started = Instant::now();
    let r = raw_request(d.addr, "GET", &format!("/boot/search/mac/{MAC}"), &[], None)
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", d.log()));
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert!(r.text().contains("node001"), "{what}: {}", r.text());
    assert!(elapsed < Duration::from_secs(1), "{what}: took {elapsed:?}");
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

/// True once the reply's first bytes are waiting in the socket: the daemon has
/// built it and is (trying to) send it.
fn reply_started(s: &TcpStream) -> bool {
    let mut one = [0u8; 1];
    s.set_nonblocking(true).is_ok() && s.peek(&mut one).is_ok_and(|n| n > 0)
}

#[test]
fn huge_declared_body_is_refused_without_reading_it() {
    let mut d = Daemon::start("huge-body");
    for len in ["1000000000000", "20000000"] {
        let mut c = Conn::open(d.addr);
        c.send(
            format!("POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
                .as_bytes(),
        );
        let r = c.response().expect("a reply");
        assert_eq!(r.status, 413, "{len}: {}", r.text());
        assert!(r.message().contains("too large"), "{}", r.text());
        drop(c);
        std::thread::sleep(Duration::from_millis(300));
        assert!(d.is_running(), "{}", d.log());
        assert!(version_ok(&d));
    }
}

#[test]
fn clients_stalled_mid_body_do_not_delay_boot_and_get_408() {
    let (d, _) = boot_ready("slow-body", 0, "[SERVER]\nWORKERS = 2\nBODY_TIMEOUT = 6s\n");
    let stalled_at = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut c = Conn::open(d.addr);
        c.send(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"username\":");
        stalled.push(c);
    }
    for i in 0..5 {
        assert_boot_prompt(&d, &format!("boot request {i} with 40 stalled bodies"));
    }
    assert!(
        stalled_at.elapsed() < Duration::from_secs(5),
        "too slow to prove anything: the stalled bodies may have timed out"
    );
    // The stalled clients are told why, once BODY_TIMEOUT has passed.
    let r = stalled[0].response().expect("reply to a stalled client");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(!r.message().is_empty());
    let waited = stalled_at.elapsed();
    assert!(
        waited > Duration::from_secs(5) && waited < Duration::from_secs(10),
        "408 after {waited:?}"
    );
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
    assert!(!r.message().is_empty());
    let big = "z".repeat(20_000);
    let r = raw_request(d.addr, "GET", "/version", &[("X-Big", &big)], None).unwrap();
    assert_eq!(r.status, 431, "{}", r.text());
    assert!(!r.message().is_empty());
    // Just under both limits is fine.
    let many: Vec<(String, String)> = (0..50)
        .map(|i| (format!("X-Filler-{i}"), "y".into()))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        raw_request(d.addr, "GET", "/version", &refs, None)
            .unwrap()
            .status,
        200
    );
    let big = "z".repeat(15_000);
    let r = raw_request(d.addr, "GET", "/version", &[("X-Big", &big)], None).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn accept_recovers_after_descriptors_run_out() {
    let mut d = Daemon::start_with(
        "fds",
        Options {
            ini: "[SERVER]\nWORKERS = 2\n".into(),
            nofile: Some(48),
            listen: None,
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
}

#[test]
fn clients_that_stop_reading_a_listing_do_not_hold_the_workers() {
    let (d, token) = boot_ready("stalled-read", 3000, "[SERVER]\nWORKERS = 2\n");
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        set_small_rcvbuf(&s);
        write!(
            s,
            "GET /config/node HTTP/1.1\r\nHost: x\r\nx-access-tokens: {token}\r\n\r\n"
        )
        .unwrap();
        stalled.push(s);
    }
    assert!(
        wait_until(Duration::from_secs(30), || stalled
            .iter()
            .all(reply_started)),
        "the listings were never sent\n{}",
        d.log()
    );
    for i in 0..5 {
        assert_boot_prompt(&d, &format!("boot request {i} with 4 unread listings"));
    }
}

#[test]
fn slow_clients_never_starve_the_boot_path() {
    // Deadlines long enough that every hostile client is still in its phase
    // while the node lists are built (CPU work, not what is tested here) and
    // the boot requests run.
    let (d, token) = boot_ready(
        "hostile",
        1000,
        "[SERVER]\nHEAD_TIMEOUT = 60s\nBODY_TIMEOUT = 60s\n",
    );
    let started = Instant::now();
    // A third trickle a request head, one byte a second.
    let head = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n";
    let tricklers: Vec<TcpStream> = (0..85)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut tricklers = tricklers;
            for b in head {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                for s in &mut tricklers {
                    let _ = s.write_all(&[*b]);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    // A third declare a 1 MB body, send 5 bytes and stall.
    let mut stalled_bodies = Vec::new();
    for _ in 0..85 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        s.write_all(
            b"POST /config/node/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{\"a\":",
        )
        .unwrap();
        stalled_bodies.push(s);
    }
    // A third ask for the node list (1.4 MB) and never read it.
    let mut readers = Vec::new();
    for _ in 0..86 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        set_small_rcvbuf(&s);
        write!(
            s,
            "GET /config/node HTTP/1.1\r\nHost: x\r\nx-access-tokens: {token}\r\n\r\n"
        )
        .unwrap();
        readers.push(s);
    }
    let listed = wait_until(Duration::from_secs(60), || {
        readers.iter().all(reply_started)
    });
    for i in 0..20 {
        assert_boot_prompt(&d, &format!("boot request {i} among 256 hostile clients"));
    }
    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
    assert!(listed, "the listings were never all sent\n{}", d.log());
    // All of that happened while the stalled bodies were still pending.
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "too slow to prove anything: {:?}",
        started.elapsed()
    );
    for s in &stalled_bodies {
        let mut one = [0u8; 1];
        s.set_nonblocking(true).unwrap();
        assert!(
            s.peek(&mut one)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "a stalled body was answered or closed early\n{}",
            d.log()
        );
    }
}
