//! `make bench`: seeds a 5,000-node cluster through the API of a fresh release
//! daemon and measures it from concurrent keep-alive clients on loopback.
//! It prints figures; it asserts nothing (targets live in the issues).
//!
//! The second half compares this build with a baseline binary (commit 2050f4a,
//! the last on tiny_http, which `make bench` builds once and names in
//! `LUNA2D_BASELINE`). Both daemons start from copies of the same seeded
//! database and are measured in turn (ours, baseline, ours, baseline), each
//! side keeping its best run, by an event-driven load generator on mio that holds
//! thousands of keep-alive connections from one thread. Without the variable the
//! comparison is skipped and ours is measured alone.
//!
//! The load generator shares the machine's cores with the daemon, so the
//! figures are a floor for what a separate client would see.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

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
    let nofile = raise_nofile();
    let dir = std::env::temp_dir().join(format!("luna2d-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    // One part alone, while working on it: LUNA2D_BENCH_ONLY=ha|images|control.
    if let Ok(part) = std::env::var("LUNA2D_BENCH_ONLY") {
        match part.as_str() {
            "ha" => ha_bench(&dir),
            "images" => images_bench(&dir),
            "control" => control_bench(&dir),
            other => eprintln!("LUNA2D_BENCH_ONLY: unknown part '{other}'"),
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let ini = dir.join("bench.ini");
    std::fs::write(
        &ini,
        format!("[LOGGER]\nLOGFILE = {}\n", dir.join("daemon.log").display()),
    )
    .expect("ini");
    let (mut child, addr) = start(ours_bin(), &dir.join("var"), &ini);
    let pid = child.id();
    let mut c = Client::connect(addr);
    let token = login(&mut c);
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
    let lat = latencies(&mut c, "/config/network/cluster/_nextfreeip", &token, 200);
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
    control_bench(&dir);
    images_bench(&dir);
    ha_bench(&dir);

    // Both sides of the comparison start from this state.
    let snapshot = dir.join("snapshot.db");
    rusqlite::Connection::open(dir.join("var/luna.db"))
        .and_then(|db| db.execute("VACUUM INTO ?1", [snapshot.to_string_lossy()]))
        .expect("snapshot of the seeded database");
    let _ = child.kill();
    let _ = child.wait();
    compare(&dir, nofile);
    let _ = std::fs::remove_dir_all(&dir);
}

/// BMCs for the power bench: one ipmi_sim each on 127.0.80.x.
const BMCS: usize = 50;

/// The ipmi_sim fixture beside the work tree.
fn ipmi_fixture() -> PathBuf {
    // `shared/` beside the work tree; `LUNA2D_SHARED` where a checkout lives
    // elsewhere.
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let shared = std::env::var_os("LUNA2D_SHARED")
        .map(PathBuf::from)
        .unwrap_or(beside);
    shared.join("fixtures/ipmi_sim")
}

/// `ipmitool ... chassis power status` against one simulated BMC; true on exit 0.
fn ipmi_status(ip: &str) -> bool {
    Command::new("ipmitool")
        .args([
            "-I", "lanplus", "-C", "3", "-N", "1", "-R", "1", "-H", ip, "-p", "9623",
        ])
        .args(["-U", "admin", "-E", "chassis", "power", "status"])
        .env("IPMI_PASSWORD", "admin")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts `BMCS` ipmi_sim processes; None when ipmi_sim is missing.
fn start_bmcs(dir: &Path) -> Option<Vec<Child>> {
    let fixture = ipmi_fixture();
    let lan = std::fs::read_to_string(fixture.join("lan.conf")).ok()?;
    let mut sims = Vec::new();
    for i in 1..=BMCS {
        let d = dir.join(format!("bmc{i}"));
        std::fs::create_dir_all(d.join("state")).expect("bmc dir");
        for f in ["sim.emu", "chassis.sh"] {
            std::fs::copy(fixture.join(f), d.join(f)).expect("fixture");
        }
        let ip = format!("127.0.80.{i}");
        std::fs::write(
            d.join("lan.conf"),
            lan.replace("addr 127.0.0.1 9623", &format!("addr {ip} 9623")),
        )
        .expect("lan.conf");
        let child = Command::new("ipmi_sim")
            .args(["-c", "lan.conf", "-f", "sim.emu", "-n", "-s", "./state"])
            .current_dir(&d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => sims.push(c),
            Err(_) => return None,
        }
    }
    for i in 1..=BMCS {
        let ip = format!("127.0.80.{i}");
        let up = (0..50).any(|_| {
            ipmi_status(&ip) || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        assert!(up, "simulated BMC {ip} did not answer");
    }
    Some(sims)
}

/// Power status of 50 nodes across 50 simulated BMCs through luna2d (batches
/// of 10, no delay), against the floor: the same 50 `ipmitool` calls run
/// directly, 10 at a time. Then `/monitor/queue` with 10,000 finished jobs.
fn control_bench(dir: &Path) {
    let dir = dir.join("control");
    std::fs::create_dir_all(&dir).expect("control dir");
    let Some(mut sims) = start_bmcs(&dir) else {
        println!("power x{BMCS}        skipped: ipmi_sim (openipmi) is not installed");
        return;
    };
    let ini = dir.join("bench.ini");
    std::fs::write(
        &ini,
        format!(
            "[LOGGER]\nLOGFILE = {}\n[BMCCONTROL]\nBMC_BATCH_SIZE = 10\nBMC_BATCH_DELAY = 0s\nBMC_TIMEOUT = 5s\nCONTROL_WAIT = 0s\n",
            dir.join("daemon.log").display()
        ),
    )
    .expect("ini");
    let (mut child, addr) = start(ours_bin(), &dir.join("var"), &ini);
    let mut c = Client::connect(addr);
    let token = login(&mut c);
    let post = |c: &mut Client, path: &str, body: String| {
        let (status, text) = c.call("POST", path, &token, Some(&body));
        assert!(
            status == 201 || status == 200,
            "{path}: {status} {}",
            String::from_utf8_lossy(&text)
        );
        text
    };
    post(
        &mut c,
        "/config/network/bmcnet",
        r#"{"config":{"network":{"bmcnet":{"network":"127.0.80.0/24","dhcp":false}}}}"#.into(),
    );
    post(
        &mut c,
        "/config/bmcsetup/sim",
        r#"{"config":{"bmcsetup":{"sim":{"username":"admin","password":"admin","port":9623}}}}"#
            .into(),
    );
    for i in 1..=BMCS {
        post(
            &mut c,
            &format!("/config/node/bmc{i:02}"),
            format!(
                r#"{{"config":{{"node":{{"bmc{i:02}":{{"group":"compute","bmcsetup":"sim","interfaces":[{{"interface":"BMC","network":"bmcnet","ipaddress":"127.0.80.{i}"}}]}}}}}}}}"#
            ),
        );
    }
    let hostlist =
        format!(r#"{{"control":{{"power":{{"status":{{"hostlist":"bmc[01-{BMCS}]"}}}}}}}}"#);
    let mut ours = Duration::MAX;
    let mut direct = Duration::MAX;
    let mut failed = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let text = post(&mut c, "/control/action/power/_status", hostlist.clone());
        let id = serde_json::from_slice::<serde_json::Value>(&text).expect("json")["request_id"]
            .as_str()
            .expect("request id")
            .to_string();
        let mut answered = 0;
        for _ in 0..6000 {
            let (_, text) = c.call("GET", &format!("/control/status/{id}"), &token, None);
            let v: serde_json::Value = serde_json::from_slice(&text).expect("json");
            for bucket in ["on", "off"] {
                answered += v["control"]["power"][bucket]
                    .as_object()
                    .map_or(0, |o| o.len());
            }
            failed += v["control"]["failed"].as_object().map_or(0, |o| o.len());
            if v["complete"] == serde_json::json!(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        ours = ours.min(t.elapsed());
        assert_eq!(answered + failed, BMCS, "every node answered");

        let t = Instant::now();
        for batch in (1..=BMCS).collect::<Vec<_>>().chunks(10) {
            let handles: Vec<_> = batch
                .iter()
                .map(|i| {
                    let ip = format!("127.0.80.{i}");
                    std::thread::spawn(move || ipmi_status(&ip))
                })
                .collect();
            for h in handles {
                assert!(h.join().expect("ipmitool"), "direct ipmitool failed");
            }
        }
        direct = direct.min(t.elapsed());
    }
    println!(
        "power x{BMCS}        status of {BMCS} nodes, batches of 10: ours {} ms ({} ms per batch), \
         ipmitool directly {} ms: ratio {:.2}, {failed} failed, target <= 5000 ms",
        ours.as_millis(),
        ours.as_millis() / 5,
        direct.as_millis(),
        ours.as_secs_f64() / direct.as_secs_f64()
    );

    // /monitor/queue with 10,000 finished jobs in the table.
    {
        let db = rusqlite::Connection::open(dir.join("var/luna.db")).expect("db");
        db.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        db.execute_batch("BEGIN IMMEDIATE").expect("begin");
        let mut stmt = db
            .prepare(
                "INSERT INTO queue (request_id, username_initiator, subsystem, task, param, status, started, finished)
                 VALUES (?1, 'bench', 'control', 'power status', '{}', 'done', datetime('now'), datetime('now'))",
            )
            .expect("prepare");
        for i in 0..10_000 {
            stmt.execute([format!("bench{i:05}")]).expect("insert");
        }
        drop(stmt);
        db.execute_batch("COMMIT").expect("commit");
    }
    let lat = latencies(&mut c, "/monitor/queue", &token, 200);
    println!(
        "monitor queue   GET /monitor/queue with 10,000 finished jobs: p50 {} p99 {}, target <= 20 ms",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    let _ = child.kill();
    let _ = child.wait();
    for s in &mut sims {
        let _ = s.kill();
        let _ = s.wait();
    }
}

/// The info hash `/announce` requests of the bench name (percent-encoded).
static ANNOUNCE_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// One announce of 5,000 distinct peers in turn.
fn announce_request(n: u64) -> Vec<u8> {
    let peer = n % 5_000;
    get_request(&format!(
        "/announce?info_hash={}&peer_id=-BENCH0-{peer:012}&port={}&left=1000&compact=1",
        ANNOUNCE_HASH.get().map(String::as_str).unwrap_or(""),
        10_000 + peer
    ))
}

/// Writes `bytes` of image data under `dir`: files of 4 MiB, half of them
/// random (incompressible, like binaries) and half text-like, or all random.
fn image_tree(dir: &Path, bytes: u64, all_random: bool) {
    std::fs::create_dir_all(dir.join("boot")).expect("boot");
    std::fs::create_dir_all(dir.join("usr/lib")).expect("usr");
    std::fs::write(dir.join("boot/vmlinuz-6.1.0-bench"), vec![7u8; 8 << 20]).expect("kernel");
    std::fs::write(dir.join("boot/initrd.img-6.1.0-bench"), vec![9u8; 16 << 20]).expect("initrd");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let text: Vec<u8> = b"usr/lib/libexample.so.1 symbol table entry 0x0000 default visible\n"
        .iter()
        .copied()
        .cycle()
        .take(4 << 20)
        .collect();
    for i in 0..bytes / (4 << 20) {
        let data: Vec<u8> = if all_random || i % 2 == 0 {
            (0..(4 << 20))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect()
        } else {
            text.clone()
        };
        std::fs::write(dir.join(format!("usr/lib/file{i:05}")), data).expect("image file");
    }
}

/// Packs `name` through the API; answers the seconds it took and the job's
/// messages.
fn timed_pack(c: &mut Client, token: &str, name: &str) -> (f64, String) {
    let t = Instant::now();
    let (status, body) = c.call("GET", &format!("/config/osimage/{name}/_pack"), token, None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let id = v["request_id"].as_str().expect("request id").to_string();
    let mut said = String::new();
    for _ in 0..60_000 {
        let (_, body) = c.call("GET", &format!("/config/status/{id}"), token, None);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        for m in v[&id].as_array().cloned().unwrap_or_default() {
            said.push_str(m["message"].as_str().unwrap_or(""));
            said.push('\n');
        }
        if said.contains(&format!("pack {name}: ")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!said.contains(": failed"), "{said}");
    (t.elapsed().as_secs_f64(), said)
}

/// The controller seeder's upload limit in the swarm bench: 50 MB/s, the
/// share of a 10 GbE link one image gets in a boot storm. On loopback an
/// unlimited seed would serve every node alone before they could trade.
const SEED_RATE: u64 = 50 << 20;

/// Pack of a 1 GiB image, `/announce` with 5,000 peers, and a swarm of 8
/// aria2c nodes fetching a 256 MiB image from the controller's seeder.
fn images_bench(dir: &Path) {
    let dir = dir.join("images");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("images dir");
    let ini = dir.join("bench.ini");
    std::fs::write(
        &ini,
        format!(
            "[LOGGER]\nLOGFILE = {}\n[BOOTSTRAP]\nCLUSTER_NETWORK = 127.0.0.0/16\nCONTROLLER_IP = 127.0.0.1\n\
             [FILES]\nSEEDER = aria2c\nSEEDER_PORT = 6990\nSEEDER_UPLOAD_LIMIT = {}\n",
            dir.join("daemon.log").display(),
            SEED_RATE
        ),
    )
    .expect("ini");
    let (child, addr) = start(ours_bin(), &dir.join("var"), &ini);
    let mut c = Client::connect(addr);
    let token = login(&mut c);
    let side = Side {
        name: "ours",
        pid: child.id(),
        child,
        addr,
        token: token.clone(),
    };

    // Pack 1 GiB.
    image_tree(&dir.join("var/images/compute"), 1 << 30, false);
    let (secs, said) = timed_pack(&mut c, &token, "compute");
    let compressor = said
        .lines()
        .find_map(|l| l.split(" with ").nth(1))
        .unwrap_or("?")
        .to_string();
    println!(
        "pack 1 GiB      {secs:.1} s = {:.0} MB/s with {compressor} (kernel, initramfs, tarball, torrent), target >= 100 MB/s",
        1024.0 / secs
    );

    // A 256 MiB image for the swarm; its torrent's info hash for /announce.
    let (status, _) = c.call(
        "POST",
        "/config/osimage/swarm",
        &token,
        Some(r#"{"config":{"osimage":{"swarm":{}}}}"#),
    );
    assert_eq!(status, 201, "osimage swarm");
    image_tree(&dir.join("var/images/swarm"), 256 << 20, true);
    timed_pack(&mut c, &token, "swarm");
    let (_, body) = c.call("GET", "/config/osimage/swarm", &token, None);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let imagefile = v["config"]["osimage"]["swarm"]["imagefile"]
        .as_str()
        .expect("imagefile")
        .to_string();
    let torrent_path = dir.join("var/files").join(format!("{imagefile}.torrent"));
    let torrent = std::fs::read(&torrent_path).expect("torrent");
    let at = torrent
        .windows(6)
        .position(|w| w == b"4:info")
        .expect("info")
        + 6;
    let hash = hmac_sha1_compact::Hash::hash(&torrent[at..torrent.len() - 1]);
    let escaped: String = hash.iter().map(|b| format!("%{b:02x}")).collect();
    let _ = ANNOUNCE_HASH.set(escaped);

    let fig = measure(&side, 64, announce_request, Duration::from_secs(5));
    println!(
        "announce        5,000 peers, 64 connections: {:.0} req/s p50 {} p99 {}, {} failed, target >= 10,000 req/s",
        fig.rate,
        ms(fig.p50),
        ms(fig.p99),
        fig.failed
    );

    // The swarm: 8 nodes on 127.0.1.1-8; the seeder is up within seconds.
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let leechers: Vec<(PathBuf, Child)> = (1..=8)
        .map(|i| {
            let d = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&d).expect("node dir");
            let child = Command::new("timeout")
                .arg("300")
                .arg("aria2c")
                .arg(format!("--dir={}", d.display()))
                .arg(format!("--interface=127.0.1.{i}"))
                .arg(format!("--log={}", d.join("aria2c.log").display()))
                .args([
                    "--log-level=info",
                    "--seed-time=0",
                    "--enable-dht=false",
                    "--enable-dht6=false",
                    "--bt-enable-lpd=false",
                    "--summary-interval=0",
                    "--file-allocation=none",
                ])
                .arg(format!("--listen-port={}", 6990 + i))
                .arg(format!("--header=x-access-tokens: {token}"))
                .arg(&torrent_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("aria2c");
            (d, child)
        })
        .collect();
    let mut completed = 0;
    let mut from_seed: u64 = 0;
    let seed = "From: 127.0.0.1:6990 piece";
    for (d, mut child) in leechers {
        if child.wait().is_ok_and(|s| s.success()) {
            completed += 1;
        }
        let log = std::fs::read_to_string(d.join("aria2c.log")).unwrap_or_default();
        for line in log.lines().filter(|l| l.contains(seed)) {
            from_seed += line
                .rsplit("length=")
                .next()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
    let size = std::fs::metadata(dir.join("var/files").join(&imagefile))
        .map(|m| m.len())
        .unwrap_or(1);
    println!(
        "swarm x8        {} MiB image, seed limited to {} MB/s: {completed}/8 complete in {:.1} s; the seed uploaded {} MiB = {:.2}x the image, target <= 3x",
        size >> 20,
        SEED_RATE >> 20,
        started.elapsed().as_secs_f64(),
        from_seed >> 20,
        from_seed as f64 / size as f64
    );
    drop(side);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `ours` listening on `listen` with `ini_text`; answers the child
/// and an admin token.
fn start_at(dir: &Path, listen: &str, ini_text: &str) -> (Child, SocketAddr, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let ini = dir.join("bench.ini");
    std::fs::write(
        &ini,
        format!(
            "[LOGGER]\nLOGFILE = {}\n{ini_text}",
            dir.join("daemon.log").display()
        ),
    )
    .expect("ini");
    let mut child = Command::new(ours_bin())
        .args(["--listen", listen, "--config"])
        .arg(&ini)
        .arg("--data")
        .arg(dir.join("var"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start luna2d");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let addr: SocketAddr = listen.parse().expect("address");
    let mut c = Client::connect(addr);
    let token = login(&mut c);
    (child, addr, token)
}

fn free_port_on(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn node_body(name: &str) -> String {
    format!(r#"{{"config":{{"node":{{"{name}":{{"group":"compute","comment":"ha"}}}}}}}}"#)
}

/// Replication: lag from the master's reply to the shadow having the change,
/// at 200 writes/s; and the time a shadow down for 10,000 writes takes to
/// catch up once back.
fn ha_bench(dir: &Path) {
    let dir = dir.join("ha");
    let _ = std::fs::remove_dir_all(&dir);
    let (p1, p2) = (free_port_on("127.0.0.1"), free_port_on("127.0.0.2"));
    let (a1, a2) = (format!("127.0.0.1:{p1}"), format!("127.0.0.2:{p2}"));
    let common = "[API]\nSECRET_KEY = bench-ha-shared-secret-0123456789\n[HA]\n";
    let m_ini = format!("{common}NAME = c1\nPEERS = c2={a2}\nMASTER = yes\n");
    let s_ini = format!("{common}NAME = c2\nPEERS = c1={a1}\nMASTER = no\n");
    let (mut master, maddr, mtoken) = start_at(&dir.join("c1"), &a1, &m_ini);
    let (shadow, saddr, stoken) = start_at(&dir.join("c2"), &a2, &s_ini);

    // Lag at 200 writes/s for 5 s.
    let writes = 1000usize;
    let acked: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; writes]));
    let writer = {
        let acked = acked.clone();
        let mtoken = mtoken.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(maddr);
            let start = Instant::now();
            for i in 0..writes {
                let due = start + Duration::from_millis(5 * i as u64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let name = format!("lag{i:05}");
                let (status, _) = c.call(
                    "POST",
                    &format!("/config/node/{name}"),
                    &mtoken,
                    Some(&node_body(&name)),
                );
                assert_eq!(status, 201, "{name}");
                acked.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(Instant::now());
            }
        })
    };
    let mut lags = Vec::new();
    let mut sc = Client::connect(saddr);
    for i in 0..writes {
        let name = format!("lag{i:05}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _) = sc.call("GET", &format!("/config/node/{name}"), &stoken, None);
            if status == 200 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let seen = Instant::now();
        let sent = loop {
            if let Some(t) = acked.lock().unwrap_or_else(|e| e.into_inner())[i] {
                break t;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        lags.push(seen.saturating_duration_since(sent));
    }
    writer.join().expect("writer");
    lags.sort();
    println!(
        "ha lag          {writes} writes at 200/s, master reply to shadow visible: p50 {} p99 {}, target p99 <= 1 s",
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99))
    );

    // Catch-up after 10,000 writes missed.
    let mut shadow = shadow;
    let _ = shadow.kill();
    let _ = shadow.wait();
    let n = 10_000usize;
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let mtoken = mtoken.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(maddr);
                for i in (k..n).step_by(4) {
                    let name = format!("up{i:05}");
                    let (status, _) = c.call(
                        "POST",
                        &format!("/config/node/{name}"),
                        &mtoken,
                        Some(&node_body(&name)),
                    );
                    assert_eq!(status, 201, "{name}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer");
    }
    let started = Instant::now();
    let (mut shadow, saddr, stoken) = start_at(&dir.join("c2"), &a2, &s_ini);
    let mut sc = Client::connect(saddr);
    let mut caught = false;
    while started.elapsed() < Duration::from_secs(300) {
        let (status, _) = sc.call(
            "GET",
            &format!("/config/node/up{:05}", n - 1),
            &stoken,
            None,
        );
        let mut mc = Client::connect(maddr);
        let (pending, _) = mc.call("GET", "/journal/c2", &mtoken, None);
        if status == 200 && pending == 404 {
            caught = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "ha catch-up     a shadow down for {n} writes: {} in {:.1} s, target <= 10 s",
        if caught { "caught up" } else { "NOT caught up" },
        started.elapsed().as_secs_f64()
    );
    let _ = shadow.kill();
    let _ = shadow.wait();
    let _ = master.kill();
    let _ = master.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `n` GETs of `path` in turn, each answered 200; their times, sorted.
fn latencies(c: &mut Client, path: &str, token: &str, n: usize) -> Vec<Duration> {
    let mut lat: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let (status, _) = c.call("GET", path, token, None);
            assert_eq!(status, 200, "GET {path}");
            t.elapsed()
        })
        .collect();
    lat.sort();
    lat
}

/// Logs in as the API user on `c`'s daemon; answers the token.
fn login(c: &mut Client) -> String {
    let (status, body) = c.call(
        "POST",
        "/token",
        "",
        Some(r#"{"username":"luna","password":"luna"}"#),
    );
    assert_eq!(status, 201, "token");
    serde_json::from_slice::<serde_json::Value>(&body).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string()
}

fn ours_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_luna2d"))
}

/// Starts the daemon `bin` on `data`; returns it with its address.
fn start(bin: &Path, data: &Path, ini: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(bin)
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
    assert!(
        !banner.is_empty(),
        "{} exited before listening (its message is above)",
        bin.display()
    );
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
    let (mut child, addr2) = start(ours_bin(), &dir.join("var2"), &dir.join("bench.ini"));
    let mut c2 = Client::connect(addr2);
    let token2 = login(&mut c2);
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

// ---------------------------------------------------------------------------
// Comparison with the baseline build.

/// Seconds each comparison run measures, and runs per side (the best is kept).
const COMPARE_SECONDS: u64 = 5;
const COMPARE_ROUNDS: usize = 2;
const FEW_CONNECTIONS: usize = 16;
const MANY_CONNECTIONS: usize = 1_000;
const IDLE_CONNECTIONS: usize = 5_000;
/// A third trickle a head, a third stall in a body, a third never read.
const SLOW_CLIENTS: usize = 256;
/// [SERVER] keys only our build knows (the defaults, stated because the idle-
/// connection figure needs 5,000 connections idle for a few seconds).
const OURS_SERVER_KEYS: &str = "CONNECTIONS_MAX = 16384\nIDLE_TIMEOUT = 60s\n";

/// A request unanswered after this counts as failed; its connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a set of connections may take to open and answer one request each.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(40);
/// The same, while slow clients are attacking (the baseline may never answer).
const ESTABLISH_UNDER_ATTACK_TIMEOUT: Duration = Duration::from_secs(5);
/// New connections opened at once: more overflow the listen backlog.
const CONNECTS_IN_FLIGHT_MAX: usize = 256;
/// A failed generator connection is reopened after this.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// A slow client the server cut off comes back after this.
const SLOW_RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// Slow clients give up after this even if nobody stops them.
const SLOW_LIFETIME_MAX: Duration = Duration::from_secs(120);
/// A daemon counts as settled when it used less CPU than this per sample.
const SETTLE_SAMPLE: Duration = Duration::from_millis(250);
const SETTLE_CPU_PERCENT_MAX: u64 = 10;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Any response bigger than this is a broken one for the generator.
const RESPONSE_BYTES_MAX: usize = 1 << 20;
const POLL_TIMEOUT: Duration = Duration::from_millis(20);
/// Responses one event may finish on one connection (see `Generator::step`).
const RESPONSES_PER_STEP_MAX: usize = 8;

/// One daemon under comparison.
struct Side {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    pid: u32,
    token: String,
}

impl Drop for Side {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the snapshot into a data dir of its own and starts `bin` there.
fn start_side(name: &'static str, bin: &Path, dir: &Path, server_keys: &str) -> Side {
    let home = dir.join(format!("cmp-{name}"));
    let data = home.join("var");
    std::fs::create_dir_all(&data).expect("side dir");
    std::fs::copy(dir.join("snapshot.db"), data.join("luna.db")).expect("copy db");
    std::fs::copy(dir.join("var/secret.key"), data.join("secret.key")).expect("copy key");
    // luna2d refuses a database or key others can read (the snapshot was
    // written by the bench, not by luna2d).
    use std::os::unix::fs::PermissionsExt;
    for f in ["luna.db", "secret.key"] {
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let ini = home.join("bench.ini");
    let mut text = format!(
        "[LOGGER]\nLOGFILE = {}\n",
        home.join("daemon.log").display()
    );
    if !server_keys.is_empty() {
        text.push_str("[SERVER]\n");
        text.push_str(server_keys);
    }
    std::fs::write(&ini, text).expect("ini");
    let (child, addr) = start(bin, &data, &ini);
    let pid = child.id();
    let mut c = Client::connect(addr);
    let token = login(&mut c);
    Side {
        name,
        child,
        addr,
        pid,
        token,
    }
}

/// What a set of requests produced.
#[derive(Default)]
struct Tally {
    ok: u64,
    /// Errors, non-200 answers and timeouts.
    failed: u64,
    timed_out: u64,
    /// Connections the server closed between requests.
    reconnects: u64,
    lat: Vec<Duration>,
}

/// One measured run.
#[derive(Clone, Copy, Default)]
struct Figure {
    rate: f64,
    p50: Duration,
    p99: Duration,
    ok: u64,
    failed: u64,
    timed_out: u64,
    established: usize,
}

impl Figure {
    fn from(mut t: Tally, secs: f64, established: usize) -> Figure {
        t.lat.sort();
        Figure {
            rate: t.ok as f64 / secs,
            p50: percentile(&t.lat, 0.5),
            p99: percentile(&t.lat, 0.99),
            ok: t.ok,
            failed: t.failed,
            timed_out: t.timed_out,
            established,
        }
    }

    fn line(&self) -> String {
        let mut s = format!(
            "{:>7.0} req/s p50 {:>9} p99 {:>9}",
            self.rate,
            ms(self.p50),
            ms(self.p99)
        );
        if self.failed > 0 {
            s.push_str(&format!(
                ", {} failed ({} timed out)",
                self.failed, self.timed_out
            ));
        }
        s
    }
}

/// A generator connection: open, or waiting to be reopened.
enum Slot {
    Live(Conn),
    Retry(Instant),
}

struct Conn {
    stream: mio::net::TcpStream,
    connected: bool,
    out: Vec<u8>,
    written: usize,
    inbuf: Vec<u8>,
    /// When the request in flight was sent; `None` between requests.
    sent_at: Option<Instant>,
}

/// A complete response: its status and whether the server will close.
struct Answer {
    status: u16,
    close: bool,
}

impl Conn {
    /// Moves the connection as far as the socket allows: connect, write the
    /// request, read the response. `Some` once the whole response is in.
    fn progress(&mut self) -> std::io::Result<Option<Answer>> {
        if !self.connected {
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        while self.inbuf.len() <= RESPONSE_BYTES_MAX {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.inbuf.len() > RESPONSE_BYTES_MAX {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "response too big",
            ));
        }
        let Some(head_bytes) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.inbuf[..head_bytes]).to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "status line"))?;
        let mut length = None;
        let mut close = false;
        for l in head.lines().skip(1) {
            if let Some((k, v)) = l.split_once(':') {
                match k.trim() {
                    "content-length" => length = v.trim().parse::<usize>().ok(),
                    "connection" => close = v.trim() == "close",
                    _ => {}
                }
            }
        }
        let length = length
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "no Content-Length"))?;
        if self.inbuf.len() < head_bytes + 4 + length {
            return Ok(None);
        }
        self.inbuf.clear();
        Ok(Some(Answer { status, close }))
    }
}

/// The event-driven load generator: many keep-alive connections on one thread,
/// each sending a request, reading the whole response, and sending the next.
struct Generator {
    addr: SocketAddr,
    poll: Poll,
    events: Events,
    slots: Vec<Slot>,
    /// The bytes of the n-th request.
    request: Box<dyn Fn(u64) -> Vec<u8>>,
    sent: u64,
}

impl Generator {
    fn new(addr: SocketAddr, request: impl Fn(u64) -> Vec<u8> + 'static) -> Generator {
        Generator {
            addr,
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(1024),
            slots: Vec::new(),
            request: Box::new(request),
            sent: 0,
        }
    }

    /// Opens `n` more connections, each answering one request, a bounded
    /// number at a time. Returns how many connections are open and idle.
    fn open(&mut self, n: usize, deadline: Instant, tally: &mut Tally) -> usize {
        let target = self.slots.len() + n;
        while self.slots.len() < target && Instant::now() < deadline {
            let wave = CONNECTS_IN_FLIGHT_MAX.min(target - self.slots.len());
            for _ in 0..wave {
                self.slots.push(Slot::Retry(Instant::now()));
                self.reconnect(self.slots.len() - 1, tally);
            }
            self.pump(deadline, false, tally);
        }
        self.idle()
    }

    fn idle(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Live(c) if c.sent_at.is_none()))
            .count()
    }

    /// Keeps every connection busy for `length`; returns what the window saw.
    fn run(&mut self, length: Duration) -> Tally {
        let mut tally = Tally::default();
        for i in 0..self.slots.len() {
            if matches!(&self.slots[i], Slot::Live(c) if c.sent_at.is_none()) {
                self.start(i);
                self.step(i, true, &mut tally);
            }
        }
        self.pump(Instant::now() + length, true, &mut tally);
        tally
    }

    /// Puts the next request on connection `i`; `step` writes it.
    fn start(&mut self, i: usize) {
        let out = (self.request)(self.sent);
        self.sent += 1;
        if let Slot::Live(c) = &mut self.slots[i] {
            c.out = out;
            c.written = 0;
            c.sent_at = Some(Instant::now());
        }
    }

    /// Replaces connection `i` with a new one that sends a request when open.
    fn reconnect(&mut self, i: usize, tally: &mut Tally) {
        match mio::net::TcpStream::connect(self.addr) {
            Ok(mut stream) => {
                self.poll
                    .registry()
                    .register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .expect("register");
                stream.set_nodelay(true).ok();
                self.slots[i] = Slot::Live(Conn {
                    stream,
                    connected: false,
                    out: Vec::new(),
                    written: 0,
                    inbuf: Vec::new(),
                    sent_at: None,
                });
                // Written when the connection is established (a writable event).
                self.start(i);
            }
            Err(_) => self.fail(i, false, tally),
        }
    }

    fn fail(&mut self, i: usize, timed_out: bool, tally: &mut Tally) {
        tally.failed += 1;
        if timed_out {
            tally.timed_out += 1;
        }
        self.slots[i] = Slot::Retry(Instant::now() + RETRY_PAUSE);
    }

    /// Advances connection `i` after an event; with `keep_going`, a finished
    /// response is followed by the next request. (A response can be complete
    /// right after its request is written, so this loops, a bounded number of
    /// times; `pump` restarts a connection this leaves idle.)
    fn step(&mut self, i: usize, keep_going: bool, tally: &mut Tally) {
        for _ in 0..RESPONSES_PER_STEP_MAX {
            let Slot::Live(c) = &mut self.slots[i] else {
                return;
            };
            let sent_at = c.sent_at;
            match c.progress() {
                Ok(None) => return,
                Ok(Some(answer)) => {
                    c.sent_at = None;
                    let Some(sent_at) = sent_at else {
                        return;
                    };
                    if answer.status == 200 {
                        tally.ok += 1;
                        tally.lat.push(sent_at.elapsed());
                    } else {
                        tally.failed += 1;
                    }
                    if answer.close {
                        tally.reconnects += 1;
                        self.reconnect(i, tally);
                        return;
                    }
                    if !keep_going {
                        return;
                    }
                    self.start(i);
                }
                // The server closed an idle keep-alive connection: not a failure.
                Err(_) if sent_at.is_none() => {
                    tally.reconnects += 1;
                    self.slots[i] = Slot::Retry(Instant::now() + RETRY_PAUSE);
                    return;
                }
                Err(_) => {
                    self.fail(i, false, tally);
                    return;
                }
            }
        }
    }

    /// Runs the event loop until `until`, or (without `keep_going`) until every
    /// connection is idle.
    fn pump(&mut self, until: Instant, keep_going: bool, tally: &mut Tally) {
        let mut swept = Instant::now();
        loop {
            let now = Instant::now();
            if now >= until || (!keep_going && self.idle() == self.slots.len()) {
                return;
            }
            self.poll
                .poll(&mut self.events, Some(POLL_TIMEOUT.min(until - now)))
                .or_else(|e| match e.kind() {
                    ErrorKind::Interrupted => Ok(()),
                    _ => Err(e),
                })
                .expect("poll");
            let ready: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
            for i in ready {
                self.step(i, keep_going, tally);
            }
            if swept.elapsed() < POLL_TIMEOUT {
                continue;
            }
            swept = Instant::now();
            for i in 0..self.slots.len() {
                match &self.slots[i] {
                    Slot::Live(c) if c.sent_at.is_some_and(|t| t.elapsed() > REQUEST_TIMEOUT) => {
                        self.fail(i, true, tally)
                    }
                    Slot::Retry(at) if *at <= swept => self.reconnect(i, tally),
                    Slot::Live(c) if keep_going && c.sent_at.is_none() => {
                        self.start(i);
                        self.step(i, true, tally);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The bytes of the n-th request of a run.
type RequestFn = fn(u64) -> Vec<u8>;

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes()
}

fn mac_of(i: usize) -> String {
    format!(
        "02:00:00:{:02x}:{:02x}:{:02x}",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn version_request(_: u64) -> Vec<u8> {
    get_request("/version")
}

fn boot_request(n: u64) -> Vec<u8> {
    get_request(&format!(
        "/boot/search/mac/{}",
        mac_of((n * 7919) as usize % NODES)
    ))
}

/// Opens `conns` connections to `side` and keeps them busy for COMPARE_SECONDS.
fn measure(side: &Side, conns: usize, request: RequestFn, establish: Duration) -> Figure {
    let mut g = Generator::new(side.addr, request);
    let established = g.open(conns, Instant::now() + establish, &mut Tally::default());
    let started = Instant::now();
    let tally = g.run(Duration::from_secs(COMPARE_SECONDS));
    Figure::from(tally, started.elapsed().as_secs_f64(), established)
}

/// Runs `f` on each side in turn, COMPARE_ROUNDS times, printing every run;
/// returns each side's best run by rate.
fn alternate(label: &str, sides: &[Side], mut f: impl FnMut(&Side) -> Figure) -> Vec<Figure> {
    let mut best = vec![Figure::default(); sides.len()];
    for _ in 0..COMPARE_ROUNDS {
        for (k, side) in sides.iter().enumerate() {
            settle(side.pid);
            let fig = f(side);
            println!("{label:<26} {:<8} {}", side.name, fig.line());
            if fig.rate >= best[k].rate {
                best[k] = fig;
            }
        }
    }
    best
}

/// CPU time the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let fields: Vec<u64> = s
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            // utime and stime are fields 14 and 15; the first number after
            // the name is field 4 (field 3, the state, is a letter).
            Some(fields.get(10)? + fields.get(11)?)
        })
        .unwrap_or(0)
}

/// Waits until the daemon is nearly idle (start-up regeneration, a previous
/// run's leftovers), at most SETTLE_TIMEOUT.
fn settle(pid: u32) {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks_max = hz * SETTLE_SAMPLE.as_millis() as u64 * SETTLE_CPU_PERCENT_MAX / 100_000;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = cpu_ticks(pid);
    while Instant::now() < deadline {
        std::thread::sleep(SETTLE_SAMPLE);
        let now = cpu_ticks(pid);
        if now - last <= ticks_max {
            return;
        }
        last = now;
    }
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Raises our descriptor limit to the hard limit (the daemons inherit it);
/// returns the new limit.
fn raise_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

fn set_small_rcvbuf(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4096;
    // SAFETY: a valid socket and option buffer.
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

/// The three kinds of slow client, by slot index modulo 3.
const SLOW_KINDS: [&str; 3] = ["head", "body", "read"];
/// Sent one byte a second, then padding until stopped.
const TRICKLE_HEAD: &[u8] = b"GET /version HTTP/1.1\r\nHost: bench\r\nX-Pad: ";

/// A slow client's connection and how many head bytes it has trickled.
struct Slow {
    stream: mio::net::TcpStream,
    trickled: usize,
}

/// Opens slow client `i` (its kind is `i % 3`) and sends what it sends at once.
fn open_slow(addr: SocketAddr, i: usize, token: &str) -> std::io::Result<Slow> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    match i % 3 {
        0 => s.write_all(&TRICKLE_HEAD[..1])?,
        1 => write!(
            s,
            "POST /config/node/x HTTP/1.1\r\nHost: bench\r\nx-access-tokens: {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{{\"con"
        )?,
        _ => {
            set_small_rcvbuf(&s);
            write!(
                s,
                "GET /config/node HTTP/1.1\r\nHost: bench\r\nx-access-tokens: {token}\r\n\r\n"
            )?
        }
    }
    s.set_nonblocking(true)?;
    Ok(Slow {
        stream: mio::net::TcpStream::from_std(s),
        trickled: 1,
    })
}

/// SLOW_CLIENTS slow clients against `addr` until `stop`; a client the server
/// cuts off comes back after SLOW_RECONNECT_PAUSE. Returns the cut-offs by kind.
fn slow_clients(
    addr: SocketAddr,
    token: String,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
) -> [u64; 3] {
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Result<Slow, Instant>> =
        (0..SLOW_CLIENTS).map(|_| Err(Instant::now())).collect();
    let mut cut = [0u64; 3];
    let deadline = Instant::now() + SLOW_LIFETIME_MAX;
    let mut tick = Instant::now() + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        for (i, slot) in slots.iter_mut().enumerate() {
            if matches!(slot, Err(at) if *at <= Instant::now()) {
                *slot = match open_slow(addr, i, &token) {
                    Ok(mut s) => {
                        poll.registry()
                            .register(&mut s.stream, Token(i), Interest::READABLE)
                            .expect("register");
                        Ok(s)
                    }
                    Err(_) => Err(Instant::now() + SLOW_RECONNECT_PAUSE),
                };
            }
        }
        open.store(
            slots.iter().filter(|s| s.is_ok()).count(),
            Ordering::Relaxed,
        );
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .ok();
        for e in events.iter() {
            let i = e.token().0;
            let Ok(s) = &mut slots[i] else {
                continue;
            };
            let closed = if i % 3 == 2 {
                // Never read: only notice that the server gave up.
                e.is_read_closed() || e.is_error()
            } else {
                let mut chunk = [0u8; 4096];
                let mut closed = false;
                for _ in 0..64 {
                    match s.stream.read(&mut chunk) {
                        Ok(0) => closed = true,
                        Ok(_) => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => closed = true,
                    }
                    break;
                }
                closed
            };
            if closed {
                cut[i % 3] += 1;
                slots[i] = Err(Instant::now() + SLOW_RECONNECT_PAUSE);
            }
        }
        if Instant::now() >= tick {
            tick += Duration::from_secs(1);
            for (i, slot) in slots.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
                let Ok(s) = slot else {
                    continue;
                };
                let byte = TRICKLE_HEAD.get(s.trickled).copied().unwrap_or(b'a');
                match s.stream.write(&[byte]) {
                    Ok(1) => s.trickled += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    _ => {
                        cut[i % 3] += 1;
                        *slot = Err(Instant::now() + SLOW_RECONNECT_PAUSE);
                    }
                }
            }
        }
    }
    cut
}

/// The boot path from FEW_CONNECTIONS clients while SLOW_CLIENTS hold
/// connections; returns the figure and the slow clients' cut-offs by kind.
fn under_attack(side: &Side) -> (Figure, [u64; 3]) {
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let attackers = {
        let (addr, token, stop, open) = (side.addr, side.token.clone(), stop.clone(), open.clone());
        std::thread::spawn(move || slow_clients(addr, token, stop, open))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while open.load(Ordering::Relaxed) < SLOW_CLIENTS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the daemon render the lists the never-reading clients asked for.
    settle(side.pid);
    let fig = measure(
        side,
        FEW_CONNECTIONS,
        boot_request,
        ESTABLISH_UNDER_ATTACK_TIMEOUT,
    );
    stop.store(true, Ordering::Relaxed);
    let cut = attackers.join().expect("slow clients");
    (fig, cut)
}

/// RSS with IDLE_CONNECTIONS idle keep-alive connections, each after one
/// request: (RSS before kB, RSS with them kB, connections established, threads).
fn idle_rss(side: &Side, conns: usize) -> (u64, u64, usize, u64) {
    settle(side.pid);
    let before = status_field(side.pid, "VmRSS:");
    let mut g = Generator::new(side.addr, version_request);
    let established = g.open(
        conns,
        Instant::now() + ESTABLISH_TIMEOUT,
        &mut Tally::default(),
    );
    std::thread::sleep(Duration::from_secs(1));
    let with = status_field(side.pid, "VmRSS:");
    let threads = status_field(side.pid, "Threads:");
    drop(g);
    (before, with, established, threads)
}

/// One row of the summary table.
struct Row {
    metric: String,
    ours: String,
    baseline: String,
    ratio: String,
    target: &'static str,
}

fn ratio(ours: f64, baseline: Option<f64>) -> String {
    match baseline {
        Some(b) if b > 0.0 => format!("{:.2}", ours / b),
        Some(_) => "inf".into(),
        None => "-".into(),
    }
}

/// The baseline's figure, when the baseline ran.
fn base(figs: &[Figure], f: fn(&Figure) -> f64) -> Option<f64> {
    figs.get(1).map(f)
}

/// Side `k`'s figure as text, or "skipped".
fn cell(figs: &[Figure], k: usize, f: fn(&Figure) -> String) -> String {
    figs.get(k).map(f).unwrap_or_else(|| "skipped".into())
}

/// The requests-per-second row of a comparison.
fn rate_row(label: &str, figs: &[Figure]) -> Row {
    Row {
        metric: format!("{label} req/s"),
        ours: cell(figs, 0, |f| format!("{:.0}", f.rate)),
        baseline: cell(figs, 1, |f| format!("{:.0}", f.rate)),
        ratio: ratio(figs[0].rate, base(figs, |f| f.rate)),
        target: "",
    }
}

fn compare(dir: &Path, nofile: libc::rlim_t) {
    println!();
    let baseline = std::env::var_os("LUNA2D_BASELINE").map(PathBuf::from);
    let mut sides = vec![start_side("ours", ours_bin(), dir, OURS_SERVER_KEYS)];
    match &baseline {
        Some(bin) => {
            println!("comparison      ours vs baseline {}", bin.display());
            sides.push(start_side("baseline", bin, dir, ""));
        }
        None => println!(
            "comparison      LUNA2D_BASELINE unset: the baseline is skipped (`make bench` builds it)"
        ),
    }
    println!(
        "                {COMPARE_SECONDS} s per run, best of {COMPARE_ROUNDS}, sides alternating; \
         {} s request timeout",
        REQUEST_TIMEOUT.as_secs()
    );
    let mut rows = Vec::new();
    let cases: [(&str, usize, RequestFn); 4] = [
        ("GET /version", FEW_CONNECTIONS, version_request),
        ("GET /version", MANY_CONNECTIONS, version_request),
        ("GET /boot/search/mac", FEW_CONNECTIONS, boot_request),
        ("GET /boot/search/mac", MANY_CONNECTIONS, boot_request),
    ];
    let mut boot_few = Vec::new();
    for (path, conns, request) in cases {
        let label = format!("{path} x{conns}");
        let figs = alternate(&label, &sides, |s| {
            measure(s, conns, request, ESTABLISH_TIMEOUT)
        });
        for (k, f) in figs.iter().enumerate() {
            if f.established < conns {
                println!(
                    "{label:<26} {:<8} only {} of {conns} connections opened",
                    sides[k].name, f.established
                );
            }
        }
        rows.push(rate_row(&label, &figs));
        rows.push(Row {
            metric: format!("{label} p50/p99 ms"),
            ours: cell(&figs, 0, |f| {
                format!("{:.2}/{:.2}", secs_ms(f.p50), secs_ms(f.p99))
            }),
            baseline: cell(&figs, 1, |f| {
                format!("{:.2}/{:.2}", secs_ms(f.p50), secs_ms(f.p99))
            }),
            ratio: ratio(secs_ms(figs[0].p99), base(&figs, |f| secs_ms(f.p99))),
            target: "",
        });
        if path.starts_with("GET /boot") && conns == FEW_CONNECTIONS {
            boot_few = figs;
        }
    }

    // Memory held by idle keep-alive connections, before the slow clients
    // leave their buffers behind.
    let idle = IDLE_CONNECTIONS.min((nofile as usize).saturating_sub(200));
    if idle < IDLE_CONNECTIONS {
        println!("rss idle conns  RLIMIT_NOFILE is {nofile}: holding {idle} connections, not {IDLE_CONNECTIONS}");
    }
    let mut rss = Vec::new();
    for side in &sides {
        let (before, with, established, threads) = idle_rss(side, idle);
        println!(
            "{:<26} {:<8} {} MB idle, {} MB with {established} of {idle} connections open ({threads} threads)",
            format!("rss with {idle} idle conns"),
            side.name,
            before / 1024,
            with / 1024
        );
        rss.push((before, with, established));
    }
    let mb = |k: usize, f: fn(&(u64, u64, usize)) -> u64| {
        rss.get(k)
            .map(|r| format!("{:.1}", f(r) as f64 / 1024.0))
            .unwrap_or_else(|| "skipped".into())
    };
    rows.push(Row {
        metric: "rss idle MB".into(),
        ours: mb(0, |r| r.0),
        baseline: mb(1, |r| r.0),
        ratio: ratio(rss[0].0 as f64, rss.get(1).map(|r| r.0 as f64)),
        target: "",
    });
    rows.push(Row {
        metric: format!("rss with {idle} idle conns MB"),
        ours: mb(0, |r| r.1),
        baseline: mb(1, |r| r.1),
        ratio: ratio(rss[0].1 as f64, rss.get(1).map(|r| r.1 as f64)),
        target: "",
    });
    let per_conn = |r: &(u64, u64, usize)| r.1.saturating_sub(r.0) as f64 / r.2.max(1) as f64;
    rows.push(Row {
        metric: "rss per idle conn kB".into(),
        ours: format!("{:.1}", per_conn(&rss[0])),
        baseline: rss
            .get(1)
            .map(|r| format!("{:.1}", per_conn(r)))
            .unwrap_or_else(|| "skipped".into()),
        ratio: ratio(per_conn(&rss[0]), rss.get(1).map(per_conn)),
        target: "",
    });
    rows.push(Row {
        metric: "idle conns held".into(),
        ours: rss[0].2.to_string(),
        baseline: rss
            .get(1)
            .map(|r| r.2.to_string())
            .unwrap_or_else(|| "skipped".into()),
        ratio: "-".into(),
        target: "",
    });

    // The boot path while slow clients hold connections.
    let label = format!("boot x{FEW_CONNECTIONS} + {SLOW_CLIENTS} slow");
    let mut cuts = vec![[0u64; 3]; sides.len()];
    let attacked = alternate(&label, &sides, |s| {
        let (fig, cut) = under_attack(s);
        let k = if s.name == "ours" { 0 } else { 1 };
        for (all, c) in cuts[k].iter_mut().zip(cut) {
            *all += c;
        }
        fig
    });
    for (k, side) in sides.iter().enumerate() {
        println!(
            "{label:<26} {:<8} slow clients cut off by the server ({}): {}/{}/{}",
            side.name,
            SLOW_KINDS.join("/"),
            cuts[k][0],
            cuts[k][1],
            cuts[k][2]
        );
    }
    let kept = |k: usize| attacked[k].rate / boot_few[k].rate.max(f64::MIN_POSITIVE);
    let growth = |k: usize| secs_ms(attacked[k].p99) / secs_ms(boot_few[k].p99).max(1e-9);
    rows.push(rate_row(&label, &attacked));
    rows.push(Row {
        metric: format!("{label} p99 ms"),
        ours: cell(&attacked, 0, |f| format!("{:.2}", secs_ms(f.p99))),
        baseline: cell(&attacked, 1, |f| format!("{:.2}", secs_ms(f.p99))),
        ratio: ratio(
            secs_ms(attacked[0].p99),
            base(&attacked, |f| secs_ms(f.p99)).filter(|_| attacked[1].ok > 0),
        ),
        target: "",
    });
    rows.push(Row {
        metric: format!("{label} failed requests"),
        ours: cell(&attacked, 0, |f| f.failed.to_string()),
        baseline: cell(&attacked, 1, |f| f.failed.to_string()),
        ratio: "-".into(),
        target: "",
    });
    rows.push(Row {
        metric: "boot rate kept under slow clients".into(),
        ours: format!("{:.0} %", kept(0) * 100.0),
        baseline: if sides.len() > 1 {
            format!("{:.0} %", kept(1) * 100.0)
        } else {
            "skipped".into()
        },
        ratio: "-".into(),
        target: ">= 80 %",
    });
    rows.push(Row {
        metric: "boot p99 growth under slow clients".into(),
        ours: format!("{:.1}x", growth(0)),
        baseline: if sides.len() > 1 && attacked[1].ok > 0 {
            format!("{:.1}x", growth(1))
        } else if sides.len() > 1 {
            "no answer".into()
        } else {
            "skipped".into()
        },
        ratio: "-".into(),
        target: "<= 3x",
    });

    println!();
    println!(
        "{:<40} {:>13} {:>13} {:>6}  target",
        "metric", "ours", "baseline", "ratio"
    );
    for r in rows {
        println!(
            "{:<40} {:>13} {:>13} {:>6}  {}",
            r.metric, r.ours, r.baseline, r.ratio, r.target
        );
    }
}

fn secs_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
