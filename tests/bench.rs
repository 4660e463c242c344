//! `make bench`: seeds a 5,000-node cluster through the API of a fresh release
//! daemon and measures it from concurrent keep-alive clients on loopback.
//! It prints figures; it asserts nothing (targets live in the issues).
//!
//! The load generator shares the machine's cores with the daemon, so the
//! figures are a floor for what a separate client would see.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 5_000;
const SEED_CLIENTS: usize = 4;
const LOAD_CLIENTS: usize = 32;
const LOAD_SECONDS: u64 = 5;

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        Client {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// One keep-alive request; returns the status and body.
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: bench\r\nx-access-tokens: {token}\r\n");
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        self.writer.write_all(req.as_bytes()).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        (status, body)
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Runs `clients` keep-alive clients for `secs`, each calling `f(client, i)`.
/// Returns (requests per second, sorted latencies, peak RSS in kB).
fn load(
    addr: SocketAddr,
    pid: u32,
    clients: usize,
    secs: u64,
    f: impl Fn(&mut Client, u64) + Send + Sync + 'static,
) -> (f64, Vec<Duration>, u64) {
    let f = Arc::new(f);
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (f, stop, counter) = (f.clone(), stop.clone(), counter.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    f(&mut c, i);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut peak = 0;
    let deadline = started + Duration::from_secs(secs);
    while Instant::now() < deadline {
        peak = peak.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    (all.len() as f64 / elapsed, all, peak)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("luna2d-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let ini = dir.join("bench.ini");
    std::fs::write(
        &ini,
        format!("[LOGGER]\nLOGFILE = {}\n", dir.join("daemon.log").display()),
    )
    .expect("ini");
    let (mut child, addr) = start(&dir.join("var"), &ini);
    let pid = child.id();
    let mut c = Client::connect(addr);
    let (status, body) = c.call(
        "POST",
        "/token",
        "",
        Some(r#"{"username":"luna","password":"luna"}"#),
    );
    assert_eq!(status, 201);
    let token: String = serde_json::from_slice::<serde_json::Value>(&body).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    println!("luna2d benchmark: {NODES} nodes, {LOAD_CLIENTS} connections, {LOAD_SECONDS} s per load test");

    // Seeding through the API.
    let t = Instant::now();
    let handles: Vec<_> = (0..SEED_CLIENTS)
        .map(|k| {
            let token = token.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in (k..NODES).step_by(SEED_CLIENTS) {
                    let name = format!("node{i:05}");
                    let body = format!(
                        r#"{{"config":{{"node":{{"{name}":{{"group":"compute","interfaces":[{{"interface":"BOOTIF","macaddress":"02:00:00:{:02x}:{:02x}:{:02x}"}}]}}}}}}}}"#,
                        (i >> 16) & 0xff,
                        (i >> 8) & 0xff,
                        i & 0xff
                    );
                    let (status, _) = c.call("POST", &format!("/config/node/{name}"), &token, Some(&body));
                    assert_eq!(status, 201, "seeding {name}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("seeder");
    }
    let seed = t.elapsed();
    println!(
        "seed            {NODES} nodes in {:.1} s = {:.0} nodes/s",
        seed.as_secs_f64(),
        NODES as f64 / seed.as_secs_f64()
    );

    std::thread::sleep(Duration::from_millis(500));
    println!("rss idle        {} MB", rss_kb(pid) / 1024);

    // The full list.
    let mut lat = Vec::new();
    let mut size = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let (status, body) = c.call("GET", "/config/node", &token, None);
        lat.push(t.elapsed());
        assert_eq!(status, 200);
        size = body.len();
    }
    lat.sort();
    println!(
        "list            GET /config/node ({} kB): p50 {} max {}",
        size / 1024,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 1.0))
    );

    // Next free IP on a /16 with 5,000 taken.
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let (status, _) = c.call("GET", "/config/network/cluster/_nextfreeip", &token, None);
        lat.push(t.elapsed());
        assert_eq!(status, 200);
    }
    lat.sort();
    println!(
        "nextfreeip      p50 {} p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );

    let tk = token.clone();
    let (rate, lat, peak) = load(addr, pid, LOAD_CLIENTS, LOAD_SECONDS, move |c, _| {
        let (status, _) = c.call("GET", "/version", &tk, None);
        assert_eq!(status, 200);
    });
    println!(
        "ceiling         GET /version: {rate:.0} req/s p50 {} p99 {} (rss {} MB)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        peak / 1024
    );

    let tk = token.clone();
    let (rate, lat, peak) = load(addr, pid, LOAD_CLIENTS, LOAD_SECONDS, move |c, i| {
        let (status, _) = c.call(
            "GET",
            &format!("/config/node/node{:05}", (i * 7919) as usize % NODES),
            &tk,
            None,
        );
        assert_eq!(status, 200);
    });
    println!(
        "show            GET /config/node/{{name}}: {rate:.0} req/s p50 {} p99 {} (rss {} MB)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        peak / 1024
    );

    let tk = token.clone();
    let (rate, lat, peak) = load(addr, pid, LOAD_CLIENTS, LOAD_SECONDS, move |c, i| {
        let name = format!("node{:05}", (i * 7919) as usize % NODES);
        let body = format!(r#"{{"config":{{"node":{{"{name}":{{"comment":"bench {i}"}}}}}}}}"#);
        let (status, _) = c.call("POST", &format!("/config/node/{name}"), &tk, Some(&body));
        assert_eq!(status, 204);
    });
    println!(
        "update          POST /config/node/{{name}}: {rate:.0} req/s p50 {} p99 {} (rss {} MB)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        peak / 1024
    );

    boot_storm(addr, pid, &token, &dir);
    transfer(addr, &token, &dir);

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a daemon on `data`; returns it with its address.
fn start(data: &std::path::Path, ini: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_luna2d"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(ini)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start luna2d");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let addr = banner
        .trim()
        .trim_start_matches("luna2d listening on http://")
        .parse()
        .expect("address");
    (child, addr)
}

/// Export of the whole cluster, and its import into an empty daemon.
fn transfer(addr: SocketAddr, token: &str, dir: &std::path::Path) {
    let mut c = Client::connect(addr);
    let t = Instant::now();
    let (status, doc) = c.call("GET", "/config/cluster/export", token, None);
    let export = t.elapsed();
    assert_eq!(status, 200);
    println!(
        "export          {NODES} nodes: {} in {:.0} kB",
        ms(export),
        doc.len() as f64 / 1024.0
    );
    let (mut child, addr2) = start(&dir.join("var2"), &dir.join("bench.ini"));
    let mut c2 = Client::connect(addr2);
    let (status, body) = c2.call(
        "POST",
        "/token",
        "",
        Some(r#"{"username":"luna","password":"luna"}"#),
    );
    assert_eq!(status, 201);
    let token2: String = serde_json::from_slice::<serde_json::Value>(&body).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let t = Instant::now();
    let (status, body) = c2.call(
        "POST",
        "/config/cluster/import",
        &token2,
        Some(&String::from_utf8_lossy(&doc)),
    );
    let import = t.elapsed();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    println!(
        "import          {NODES} nodes into an empty daemon: {}",
        ms(import)
    );
    let _ = child.kill();
    let _ = child.wait();
}

const STORM_CLIENTS: usize = 64;

/// The last "<service>: ... (N ms)" the regeneration job logged.
fn last_generation_ms(log: &str, service: &str) -> Option<String> {
    log.lines()
        .rev()
        .find(|l| l.contains(&format!("] {service}: ")) && l.ends_with(" ms)"))
        .and_then(|l| l.rsplit('(').next())
        .map(|s| s.trim_end_matches(')').to_string())
}

/// A boot storm: every node fetches its boot script, its install script, and
/// reports a state, 64 at a time.
fn boot_storm(addr: SocketAddr, pid: u32, token: &str, dir: &std::path::Path) {
    // Boot files are set straight in the database until the osimage API exists.
    let db = rusqlite::Connection::open(dir.join("var/luna.db")).expect("db");
    db.execute("UPDATE osimage SET kernelfile = 'vmlinuz', initrdfile = 'initrd.img', imagefile = 'compute.tar.gz'", [])
        .expect("osimage");
    drop(db);
    // Let the regeneration job settle after seeding, then read its timing.
    std::thread::sleep(Duration::from_secs(4));
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    println!(
        "configs         {NODES} nodes: dhcpd.conf {} and DNS zones {} (render + validate + install)",
        last_generation_ms(&log, "dhcp").unwrap_or_else(|| "n/a".into()),
        last_generation_ms(&log, "dns").unwrap_or_else(|| "n/a".into()),
    );

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..STORM_CLIENTS)
        .map(|_| {
            let (next, token) = (next.clone(), token.to_string());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut lat: [Vec<Duration>; 3] = Default::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= NODES {
                        return lat;
                    }
                    let name = format!("node{i:05}");
                    let mac = format!(
                        "02:00:00:{:02x}:{:02x}:{:02x}",
                        (i >> 16) & 0xff,
                        (i >> 8) & 0xff,
                        i & 0xff
                    );
                    let t = Instant::now();
                    let (status, body) =
                        c.call("GET", &format!("/boot/search/mac/{mac}"), "", None);
                    lat[0].push(t.elapsed());
                    assert!(
                        status == 200
                            && body.starts_with(b"#!ipxe")
                            && body.windows(7).any(|w| w == b"imgexec")
                    );
                    let t = Instant::now();
                    let (status, body) =
                        c.call("GET", &format!("/boot/install/{name}"), &token, None);
                    lat[1].push(t.elapsed());
                    assert_eq!(status, 200);
                    let text = String::from_utf8_lossy(&body);
                    let node_token = text
                        .lines()
                        .find_map(|l| l.strip_prefix("export LUNA_TOKEN=\""))
                        .map(|t| t.trim_end_matches('"').to_string())
                        .expect("provisioning token");
                    let report = format!(
                        r#"{{"monitor":{{"status":{{"{name}":{{"state":"install.success"}}}}}}}}"#
                    );
                    let t = Instant::now();
                    let (status, _) = c.call(
                        "POST",
                        &format!("/monitor/node/{name}"),
                        &node_token,
                        Some(&report),
                    );
                    lat[2].push(t.elapsed());
                    assert_eq!(status, 204);
                }
            })
        })
        .collect();
    let mut peak = 0;
    let mut lat: [Vec<Duration>; 3] = Default::default();
    let mut handles = handles;
    while !handles.is_empty() {
        peak = peak.max(rss_kb(pid));
        if handles.iter().all(|h| h.is_finished()) {
            for h in handles.drain(..) {
                for (all, part) in lat.iter_mut().zip(h.join().expect("storm client")) {
                    all.extend(part);
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "boot storm      {NODES} nodes, {STORM_CLIENTS} clients: {:.0} nodes/s (rss {} MB)",
        NODES as f64 / elapsed,
        peak / 1024
    );
    for (name, l) in [
        "GET /boot/search/mac",
        "GET /boot/install",
        "POST /monitor/node",
    ]
    .iter()
    .zip(lat.iter_mut())
    {
        l.sort();
        println!(
            "                {name}: p50 {} p99 {}",
            ms(percentile(l, 0.5)),
            ms(percentile(l, 0.99))
        );
    }
}
