//! The HTTP layer (src/http/) over a real socket: framing, keep-alive and
//! pipelining, malformed requests, limits, `Expect: 100-continue`, ranges,
//! the per-phase deadlines, the connection cap and the SIGTERM drain.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{Conn, Daemon, Options, Response};

fn daemon(name: &str, ini: &str) -> Daemon {
    Daemon::start_with(
        name,
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    )
}

/// An error reply from the HTTP layer: the status, and a JSON body with a
/// non-empty "message".
fn assert_json_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{what}: {:?}",
        r.headers
    );
    assert!(!r.message().is_empty(), "{what}: no message: {}", r.text());
}

/// Content-Length (matching the body), Content-Type and an IMF-fixdate Date,
/// e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn assert_standard_headers(r: &Response, what: &str) {
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str()),
        "{what}: {:?}",
        r.headers
    );
    assert!(
        r.header("Content-Type").is_some_and(|v| !v.is_empty()),
        "{what}: {:?}",
        r.headers
    );
    assert_date(r, what);
}

fn assert_date(r: &Response, what: &str) {
    let date = r.header("Date").unwrap_or_default();
    assert!(
        date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "{what}: Date {date:?} in {:?}",
        r.headers
    );
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// One raw request on a fresh connection; the reply.
fn exchange(d: &Daemon, raw: &[u8]) -> (Conn, Response) {
    let mut c = Conn::open(d.addr);
    c.send(raw);
    let r = c
        .response()
        .unwrap_or_else(|e| panic!("{:?}: {e}\n{}", String::from_utf8_lossy(raw), d.log()));
    (c, r)
}

/// Asserts the server closes `c` within a few seconds with nothing more sent.
fn assert_closed(c: &mut Conn, what: &str) {
    match c.closed_within(Duration::from_secs(5)) {
        Some(rest) => assert!(
            rest.is_empty(),
            "{what}: bytes after the reply: {:?}",
            String::from_utf8_lossy(&rest)
        ),
        None => panic!("{what}: the connection stayed open"),
    }
}

fn token_body() -> String {
    json!({"username": "luna", "password": "luna"}).to_string()
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let d = Daemon::start("http-keepalive");
    let mut c = Conn::open(d.addr);
    for path in ["/version", "/ping", "/version", "/no/such"] {
        c.send(&get(path));
        let r = c.response().unwrap();
        assert_eq!(r.status, if path == "/no/such" { 404 } else { 200 });
        assert_ne!(r.header("Connection"), Some("close"), "{path}");
    }
    assert!(
        c.closed_within(Duration::from_millis(300)).is_none(),
        "a keep-alive connection was closed"
    );
}

#[test]
fn connection_close_is_honoured() {
    let d = Daemon::start("http-close");
    let (mut c, r) = exchange(
        &d,
        b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"), "{:?}", r.headers);
    assert_closed(&mut c, "Connection: close");
}

#[test]
fn http_1_0_closes_by_default() {
    let d = Daemon::start("http-10");
    let (mut c, r) = exchange(&d, b"GET /ping HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.json()), (200, json!({"message": "pong"})));
    assert_closed(&mut c, "HTTP/1.0");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let d = Daemon::start("http-pipeline");
    let mut c = Conn::open(d.addr);
    let mut all = get("/version");
    all.extend(get("/ping"));
    all.extend(get("/no/such"));
    all.extend(get("/ping"));
    c.send(&all);
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["version"]["luna"].is_string(), "{}", r.text());
    let r = c.response().unwrap();
    assert_eq!((r.status, r.json()), (200, json!({"message": "pong"})));
    let r = c.response().unwrap();
    assert_eq!(r.status, 404);
    assert!(r.message().contains("/no/such"), "{}", r.text());
    let r = c.response().unwrap();
    assert_eq!((r.status, r.json()), (200, json!({"message": "pong"})));
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let d = Daemon::start("http-head");
    let (_, full) = exchange(&d, &get("/version"));
    assert_eq!(full.status, 200);
    let mut c = Conn::open(d.addr);
    let mut both = b"HEAD /version HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    both.extend(get("/ping"));
    c.send(&both);
    let r = c.head_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Length"),
        Some(full.body.len().to_string().as_str()),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("Content-Type"), full.header("Content-Type"));
    assert_date(&r, "HEAD");
    // No body: the next reply starts right after the head.
    let r = c.response().unwrap();
    assert_eq!((r.status, r.json()), (200, json!({"message": "pong"})));
}

#[test]
fn every_reply_has_length_type_and_date() {
    let mut d = daemon("http-headers", "[SERVER]\nBODY_BYTES_MAX = 4096\n");
    let t = d.token();
    let cases: Vec<(u16, Vec<u8>)> = vec![
        (200, get("/version")),
        (404, get("/no/such")),
        (400, get("/config/%zz")),
        (400, b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            413,
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n".to_vec(),
        ),
        (
            431,
            format!(
                "GET /version HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "z".repeat(20_000)
            )
            .into_bytes(),
        ),
    ];
    for (status, raw) in cases {
        let (_, r) = exchange(&d, &raw);
        assert_eq!(r.status, status, "{}", r.text());
        assert_standard_headers(&r, &format!("{status}"));
    }
    // A reload within the cooldown answers 204: no body. RFC 9110 §8.6 forbids
    // Content-Length on a 204, so it is either absent or 0.
    let reload =
        format!("GET /service/luna2/reload HTTP/1.1\r\nHost: x\r\nx-access-tokens: {t}\r\n\r\n");
    let mut c = Conn::open(d.addr);
    c.send(reload.as_bytes());
    assert_eq!(c.response().unwrap().status, 200);
    let mut twice = reload.into_bytes();
    twice.extend(get("/ping"));
    c.send(&twice);
    let r = c.response().unwrap();
    assert_eq!(r.status, 204, "{:?}", r.headers);
    assert!(
        matches!(r.header("Content-Length"), None | Some("0")),
        "{:?}",
        r.headers
    );
    assert_date(&r, "204");
    let r = c.response().unwrap();
    assert_eq!((r.status, r.json()), (200, json!({"message": "pong"})));
}

#[test]
fn malformed_requests_get_400_json_and_are_closed() {
    let d = Daemon::start("http-malformed");
    let post = |extra: &str, body: &str| {
        format!("POST /token HTTP/1.1\r\nHost: x\r\n{extra}\r\n{body}").into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "space in the target",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "raw non-ASCII in the path",
            b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "header line without colon",
            b"GET /version HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n".to_vec(),
        ),
        ("negative length", post("Content-Length: -5\r\n", "")),
        ("non-numeric length", post("Content-Length: abc\r\n", "")),
        (
            "two different lengths",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "{}   "),
        ),
        (
            "length with chunked",
            post(
                "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n",
                "2\r\n{}\r\n0\r\n\r\n",
            ),
        ),
        (
            "malformed chunk size",
            post("Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n"),
        ),
    ];
    for (what, raw) in cases {
        let (mut c, r) = exchange(&d, &raw);
        assert_json_error(&r, 400, what);
        assert_standard_headers(&r, what);
        assert_closed(&mut c, what);
    }
    let (_, r) = exchange(&d, &get("/version"));
    assert_eq!(r.status, 200);
}

#[test]
fn unknown_methods_are_501_and_unrouted_methods_405() {
    let d = Daemon::start("http-methods");
    let (_, r) = exchange(&d, b"BREW /version HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_json_error(&r, 501, "BREW");
    let (_, r) = exchange(&d, b"DELETE /version HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_json_error(&r, 405, "DELETE");
}

#[test]
fn huge_declared_lengths_get_413_and_the_daemon_lives() {
    let mut d = Daemon::start("http-huge-length");
    for len in [
        "99999999999999",
        "18446744073709551615",
        "123456789012345678901234567890",
    ] {
        let raw = format!(
            "POST /config/node/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n{{\"a\":"
        );
        let (_, r) = exchange(&d, raw.as_bytes());
        assert_json_error(&r, 413, len);
        assert_standard_headers(&r, len);
        std::thread::sleep(Duration::from_millis(200));
        assert!(d.is_running(), "{len}: the daemon died\n{}", d.log());
        let (_, r) = exchange(&d, &get("/version"));
        assert_eq!(r.status, 200, "{len}");
    }
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let d = Daemon::start("http-expect");
    let body = token_body();
    let mut c = Conn::open(d.addr);
    c.send(
        format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let started = Instant::now();
    let r = c.response().unwrap();
    assert_eq!(r.status, 100, "{:?}", r.headers);
    assert!(started.elapsed() < Duration::from_secs(1));
    c.send(body.as_bytes());
    let r = c.response().unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json()["token"].is_string());
}

#[test]
fn expect_100_continue_with_an_oversized_length_gets_413_instead() {
    let d = daemon("http-expect-413", "[SERVER]\nBODY_BYTES_MAX = 4096\n");
    let (mut c, r) = exchange(
        &d,
        b"POST /token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
    );
    assert_json_error(&r, 413, "Expect with 5000 bytes");
    // Nothing else (in particular no late `100 Continue`) follows.
    assert_closed(&mut c, "413");
}

#[test]
fn curl_posting_a_large_body_with_expect_is_prompt() {
    let d = Daemon::start("http-curl-expect");
    // Valid JSON padded with whitespace past 1 KiB; curl sends Expect for it
    // and, with no `100 Continue`, would wait --expect100-timeout (3 s) instead.
    let file = d.dir.join("token.json");
    std::fs::write(&file, format!("{}{}", token_body(), " ".repeat(2000))).unwrap();
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "20", "--expect100-timeout", "3"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", "Expect: 100-continue"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{}/token", d.addr))
        .output()
        .expect("run curl");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("HTTP/1.1 100 Continue"), "{stderr}");
    assert!(stderr.contains("HTTP/1.1 201"), "{stderr}");
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(reply["token"].is_string(), "{reply}");
    assert!(
        elapsed < Duration::from_millis(1500),
        "curl took {elapsed:?}"
    );
}

#[test]
fn chunked_request_bodies_are_read() {
    let d = Daemon::start("http-chunked");
    let body = token_body();
    let (a, b) = body.split_at(10);
    let raw = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let (mut c, r) = exchange(&d, raw.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json()["token"].is_string());
    // The connection is still usable.
    c.send(&get("/ping"));
    assert_eq!(c.response().unwrap().status, 200);
}

#[test]
fn chunked_body_growing_past_the_limit_is_413() {
    let d = daemon("http-chunked-413", "[SERVER]\nBODY_BYTES_MAX = 4096\n");
    let mut raw = b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        raw.extend(format!("3e8\r\n{}\r\n", " ".repeat(1000)).bytes());
    }
    raw.extend(b"0\r\n\r\n");
    let (_, r) = exchange(&d, &raw);
    assert_json_error(&r, 413, "5000 chunked bytes");
    assert_standard_headers(&r, "chunked 413");
}

/// A daemon with a file of `len` patterned bytes in its image-files directory.
fn with_file(name: &str, ini: &str, file: &str, len: usize) -> (Daemon, Vec<u8>) {
    let d = daemon(name, ini);
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.dir.join("var/files").join(file), &data).unwrap();
    (d, data)
}

#[test]
fn ranges_of_files_are_served() {
    let (d, data) = with_file("http-range", "", "vmlinuz", 1000);
    let (_, r) = exchange(&d, &get("/files/vmlinuz"));
    assert_eq!(r.status, 200);
    assert!(r.body == data);
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"), "{:?}", r.headers);
    for (range, from, to) in [
        ("bytes=10-19", 10, 19),
        ("bytes=100-", 100, 999),
        ("bytes=-5", 995, 999),
        ("bytes=990-5000", 990, 999),
    ] {
        let raw = format!("GET /files/vmlinuz HTTP/1.1\r\nHost: x\r\nRange: {range}\r\n\r\n");
        let (_, r) = exchange(&d, raw.as_bytes());
        assert_eq!(r.status, 206, "{range}: {}", r.text());
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes {from}-{to}/1000").as_str()),
            "{range}"
        );
        assert_eq!(r.header("Accept-Ranges"), Some("bytes"), "{range}");
        assert_standard_headers(&r, range);
        assert!(r.body == data[from..=to], "{range}: wrong bytes");
    }
    for range in ["bytes=1000-", "bytes=5000-6000"] {
        let raw = format!("GET /files/vmlinuz HTTP/1.1\r\nHost: x\r\nRange: {range}\r\n\r\n");
        let (_, r) = exchange(&d, raw.as_bytes());
        assert_eq!(r.status, 416, "{range}: {}", r.text());
        assert_eq!(r.header("Content-Range"), Some("bytes */1000"), "{range}");
    }
}

#[test]
fn curl_resumes_a_partial_download() {
    let (d, data) = with_file("http-resume", "", "initrd.img", 300_000);
    let out = d.dir.join("initrd.part");
    std::fs::write(&out, &data[..123_457]).unwrap();
    let run = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "20", "-C", "-", "-o"])
        .arg(&out)
        .arg(format!("http://{}/files/initrd.img", d.addr))
        .output()
        .expect("run curl");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // curl refuses to resume (exit 33) unless the server answered 206.
    assert!(std::fs::read(&out).unwrap() == data, "resumed file differs");
}

/// Sends `bytes` one at a time, `gap` apart, reading in between; stops when the
/// server answers or closes. What arrived, and when it arrived (None: nothing
/// arrived and the connection stayed open until all bytes were sent).
fn trickle(c: &mut Conn, bytes: &[u8], gap: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    for b in bytes {
        if c.stream.write_all(&[*b]).is_err() {
            return (Vec::new(), Some(started.elapsed()));
        }
        if let Some(got) = c.closed_within(gap) {
            return (got, Some(started.elapsed()));
        }
    }
    (Vec::new(), None)
}

#[test]
fn a_head_trickled_slower_than_head_timeout_gets_408() {
    let d = daemon("http-head-timeout", "[SERVER]\nHEAD_TIMEOUT = 2s\n");
    let head = format!(
        "GET /version HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(20)
    );
    let mut c = Conn::open(d.addr);
    // 60 bytes at one per 300 ms would take 18 s; the trickle must not reset the
    // deadline.
    let (got, when) = trickle(&mut c, head.as_bytes(), Duration::from_millis(300));
    let when = when.expect("the head was never timed out");
    assert!(
        when > Duration::from_millis(1500) && when < Duration::from_secs(4),
        "closed after {when:?}"
    );
    if !got.is_empty() {
        let r = crate::util::parse_response(&got).unwrap();
        assert_json_error(&r, 408, "head timeout");
    }
}

#[test]
fn a_stalled_body_gets_408_after_body_timeout() {
    let d = daemon(
        "http-body-timeout",
        "[SERVER]\nBODY_TIMEOUT = 1s\nBODY_RATE_MIN = 1000\n",
    );
    let started = Instant::now();
    let (mut c, r) = exchange(
        &d,
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"a\":",
    );
    let elapsed = started.elapsed();
    assert_json_error(&r, 408, "stalled body");
    assert!(
        elapsed > Duration::from_millis(800) && elapsed < Duration::from_secs(3),
        "408 after {elapsed:?}"
    );
    assert_closed(&mut c, "408");
}

#[test]
fn a_body_trickled_below_the_minimum_rate_gets_408() {
    let d = daemon(
        "http-body-rate",
        "[SERVER]\nBODY_TIMEOUT = 1s\nBODY_RATE_MIN = 1000\n",
    );
    let mut c = Conn::open(d.addr);
    c.send(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    // Five bytes a second earns 5 ms a second of extra time: the deadline
    // passes near 1 s although bytes keep coming.
    let (got, when) = trickle(&mut c, &[b' '; 100], Duration::from_millis(200));
    let when = when.expect("the trickled body was never timed out");
    assert!(when < Duration::from_secs(3), "closed after {when:?}");
    let r = crate::util::parse_response(&got).expect("a 408 reply");
    assert_json_error(&r, 408, "trickled body");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_silently() {
    let d = daemon("http-idle", "[SERVER]\nIDLE_TIMEOUT = 1s\n");
    let (mut c, r) = exchange(&d, &get("/version"));
    assert_eq!(r.status, 200);
    let started = Instant::now();
    let rest = c
        .closed_within(Duration::from_secs(4))
        .expect("idle connection never closed");
    let elapsed = started.elapsed();
    assert!(
        rest.is_empty(),
        "sent before closing: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        elapsed > Duration::from_millis(700) && elapsed < Duration::from_secs(3),
        "closed after {elapsed:?}"
    );
}

#[test]
fn a_reply_the_client_does_not_read_is_dropped_after_send_timeout() {
    let len = 32 << 20;
    let (d, _) = with_file(
        "http-send-timeout",
        "[SERVER]\nSEND_TIMEOUT = 1s\nSEND_RATE_MIN = 10000000\n",
        "big.img",
        len,
    );
    // Unread, the socket buffers (a few hundred KB, never 32 MB) fill up.
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.write_all(&get("/files/big.img")).unwrap();
    // 1 s of grace plus what was sent at 10 MB/s: about a second.
    std::thread::sleep(Duration::from_secs(4));
    // Now read as fast as possible: a dropped reply ends short of its length.
    let (mut received, mut closed) = (0, false);
    let mut chunk = vec![0u8; 1 << 16];
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => received += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed && received < len,
        "after 4 s unread: {received} bytes of a {len} byte file arrived, closed: {closed}\n{}",
        d.log()
    );
    let (_, r) = exchange(&d, &get("/version"));
    assert_eq!(r.status, 200);
}

#[test]
fn at_the_connection_cap_the_oldest_idle_connection_is_shed() {
    let d = daemon("http-conn-cap", "[SERVER]\nCONNECTIONS_MAX = 20\n");
    let mut idle = Vec::new();
    for _ in 0..20 {
        let (c, r) = exchange(&d, &get("/ping"));
        assert_eq!(r.status, 200);
        idle.push(c);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, r) = exchange(&d, &get("/version"));
    assert_eq!(r.status, 200);
    assert!(
        idle[0].closed_within(Duration::from_secs(3)).is_some(),
        "the oldest idle connection is still open"
    );
    let newest = idle.last_mut().unwrap();
    newest.send(&get("/ping"));
    assert_eq!(newest.response().unwrap().status, 200);
}

#[test]
fn sigterm_drains_a_download_and_exits_0() {
    let len = 40 << 20;
    let (mut d, data) = with_file(
        "http-drain",
        "[SERVER]\nDRAIN_TIMEOUT = 10s\n",
        "big.img",
        len,
    );
    let mut c = Conn::open(d.addr);
    c.send(&get("/files/big.img"));
    // Start reading, then signal mid-download.
    let mut got = Vec::with_capacity(len + 1024);
    let mut chunk = vec![0u8; 1 << 16];
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while got.len() < 1 << 20 {
        let n = c.stream.read(&mut chunk).expect("download");
        assert!(n > 0, "closed before the download started");
        got.extend_from_slice(&chunk[..n]);
    }
    let signalled = Instant::now();
    // SAFETY: a plain kill(2) to our own child.
    assert_eq!(
        unsafe { libc::kill(d.pid() as libc::pid_t, libc::SIGTERM) },
        0
    );
    // New connections are refused, or closed without a reply.
    let refused = crate::util::wait_until(Duration::from_secs(4), || {
        let Ok(mut s) = TcpStream::connect_timeout(&d.addr, Duration::from_secs(1)) else {
            return true;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = s.write_all(&get("/version"));
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    });
    assert!(
        refused,
        "after SIGTERM new connections are still answered or left hanging\n{}",
        d.log()
    );
    // The download in flight completes, read slowly-ish.
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a reply head");
    assert!(got.starts_with(b"HTTP/1.1 200"), "{:?}", &got[..end]);
    let total = end + 4 + len;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < total && Instant::now() < deadline {
        match c.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "download broken after {} bytes: {e}\n{}",
                got.len(),
                d.log()
            ),
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    assert_eq!(got.len(), total, "download incomplete");
    assert!(got[end + 4..] == data[..], "download corrupted");
    let status = d
        .wait_exit(Duration::from_secs(15).saturating_sub(signalled.elapsed()))
        .unwrap_or_else(|| panic!("still running after the drain\n{}", d.log()));
    assert_eq!(status.code(), Some(0), "{}", d.log());
}

/// A client whose receive buffer is tiny from the start (set before connect, so
/// the window it advertises stays small): it reads nothing.
fn connect_with_tiny_window(addr: std::net::SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("loopback IPv4 expected");
    };
    // SAFETY: plain socket calls on a fresh descriptor we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// The send deadline counts what the client received, not what the kernel
/// took into our socket's send buffer (megabytes, for a client reading nothing).
#[test]
fn send_deadline_counts_bytes_received_not_bytes_buffered() {
    let (d, _) = with_file(
        "http-send-buffered",
        "[SERVER]\nSEND_TIMEOUT = 1s\nSEND_RATE_MIN = 20000\n",
        "big.img",
        32 << 20,
    );
    let mut s = connect_with_tiny_window(d.addr);
    s.write_all(&get("/files/big.img")).unwrap();
    let started = Instant::now();
    // 1 s of grace plus a few KB at 20 KB/s: dropped within a few seconds.
    assert!(
        crate::util::wait_until(Duration::from_secs(8), || d
            .log()
            .contains("reply not read in time; dropped")),
        "still sending after {:?}\n{}",
        started.elapsed(),
        d.log()
    );
    assert!(version_answers(&d));
}

fn version_answers(d: &Daemon) -> bool {
    crate::util::raw_request(d.addr, "GET", "/version", &[], None).is_ok_and(|r| r.status == 200)
}
