//! OS images nodes can boot: pack (kernel, initramfs, tarball with the real
//! tar, torrent), the files a tag pins, an aria2c swarm through the tracker,
//! and grab and push with a real rsync daemon on a 127.x address.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::sim::{require, which};
use crate::util::{wait_until, Daemon, Options};

const KVER: &str = "6.1.0-luna-test";

/// A small image tree: kernel, initramfs, a marker, a symlink, some data,
/// and a file under /proc that must not be packed.
fn build_image(root: &Path, marker: &str) {
    for d in ["boot", "etc", "proc", "usr/share/data", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join(format!("boot/vmlinuz-{KVER}")),
        pseudo_random(700_000, 1),
    )
    .unwrap();
    std::fs::write(root.join("boot/vmlinuz-5.4.0-old"), b"old kernel").unwrap();
    std::fs::write(
        root.join(format!("boot/initrd.img-{KVER}")),
        pseudo_random(300_000, 2),
    )
    .unwrap();
    std::fs::write(root.join("etc/luna-marker"), marker).unwrap();
    std::os::unix::fs::symlink("luna-marker", root.join("etc/marker-link")).unwrap();
    std::fs::write(
        root.join("usr/share/data/blob"),
        pseudo_random(3_000_000, 3),
    )
    .unwrap();
    std::fs::write(root.join("proc/not-packed"), "pseudo").unwrap();
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Polls `/config/status/{id}` until a message contains `end`; all messages.
pub fn wait_job(d: &mut Daemon, id: &str, end: &str) -> String {
    let mut said = String::new();
    let ended = wait_until(Duration::from_secs(60), || {
        let r = d.get(&format!("/config/status/{id}"));
        for m in r.json()[id].as_array().cloned().unwrap_or_default() {
            said.push_str(m["message"].as_str().unwrap_or(""));
            said.push('\n');
        }
        said.contains(end)
    });
    assert!(
        ended,
        "job {id} did not report '{end}':\n{said}\n{}",
        d.log()
    );
    said
}

fn image_of(d: &mut Daemon, name: &str) -> Value {
    d.get(&format!("/config/osimage/{name}")).json()["config"]["osimage"][name].clone()
}

pub fn pack(d: &mut Daemon, name: &str) -> String {
    let r = d.get(&format!("/config/osimage/{name}/_pack"));
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let said = wait_job(d, &id, &format!("pack {name}: "));
    assert!(!said.contains(": failed"), "{said}");
    said
}

/// A TCP port free on 127.0.0.1 now (the kernel's pick), for a process that
/// binds it a moment later.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn sha1_of(path: &Path) -> String {
    let out = Command::new("sha1sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Options with no seeder (tests of the swarm start their own).
fn no_seeder(extra: &str) -> Options {
    Options {
        ini: format!("[FILES]\nSEEDER =\n{extra}"),
        ..Default::default()
    }
}

#[test]
fn pack_builds_what_nodes_boot_and_tags_pin_old_files() {
    let mut d = Daemon::start_with("img-pack", no_seeder(""));
    let root = d.dir.join("var/images/compute");
    build_image(&root, "first build");
    // Owners and modes must survive the tarball.
    use std::os::unix::fs::PermissionsExt;
    let secret = root.join("etc/shadow-like");
    std::fs::write(&secret, "x").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&secret, Some(1234), Some(4321)).unwrap();
    let said = pack(&mut d, "compute");
    assert!(said.contains("initramfs taken from the image"), "{said}");

    let img = image_of(&mut d, "compute");
    assert_eq!(img["kernelversion"], KVER, "the newest kernel: {img}");
    let files = d.dir.join("var/files");
    let kernel = files.join(img["kernelfile"].as_str().unwrap());
    let initrd = files.join(img["initrdfile"].as_str().unwrap());
    let tarball = files.join(img["imagefile"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&kernel).unwrap(),
        std::fs::read(root.join(format!("boot/vmlinuz-{KVER}"))).unwrap()
    );
    assert_eq!(
        std::fs::read(&initrd).unwrap(),
        std::fs::read(root.join(format!("boot/initrd.img-{KVER}"))).unwrap()
    );
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(&tarball)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(listing.contains("./etc/luna-marker"), "{listing}");
    assert!(listing.contains("./proc/"), "the directory itself stays");
    assert!(
        !listing.contains("not-packed"),
        "pseudo-filesystems are not packed"
    );
    let torrent = PathBuf::from(format!("{}.torrent", tarball.display()));
    assert!(torrent.is_file(), "a torrent beside the tarball");
    let m = d.get("/monitor/osimage/compute").json();
    assert_eq!(m["monitor"]["status"]["compute"]["status"], "built", "{m}");
    assert_eq!(d.get("/monitor/osimage/nope").status, 404);
    let sync = d.get("/monitor/sync").json();
    assert_eq!(
        sync["monitor"]["status"]["sync"]["compute"]["status"], "synced",
        "{sync}"
    );
    assert_eq!(d.get("/monitor/sync/compute").status, 200);
    assert_eq!(d.get("/monitor/sync/nope").status, 404);

    // A node boots the new kernel at once (the boot script cache is stale).
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"n1": {"group": "compute",
            "interfaces": [{"interface": "BOOTIF", "macaddress": "02:00:00:00:00:01"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let script = d.get_open("/boot/search/mac/02:00:00:00:00:01").text();
    assert!(
        script.contains(img["kernelfile"].as_str().unwrap()),
        "{script}"
    );

    // A tag pins the first build; packing again replaces the image's files
    // but keeps the tagged ones, and removes nothing in use.
    let r = d.post(
        "/config/osimage/compute/tag",
        json!({"config": {"osimage": {"compute": {"tag": "v1"}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    std::thread::sleep(Duration::from_millis(1100)); // a new epoch in the names
    std::fs::write(root.join("etc/luna-marker"), "second build").unwrap();
    pack(&mut d, "compute");
    let img2 = image_of(&mut d, "compute");
    assert_ne!(img2["imagefile"], img["imagefile"]);
    assert!(tarball.is_file(), "tag v1 still names the first tarball");
    let script = d.get_open("/boot/search/mac/02:00:00:00:00:01").text();
    assert!(
        script.contains(img2["kernelfile"].as_str().unwrap()),
        "{script}"
    );

    // Without the tag, a third pack removes the second build's files.
    let second = files.join(img2["imagefile"].as_str().unwrap());
    std::thread::sleep(Duration::from_millis(1100));
    pack(&mut d, "compute");
    assert!(!second.exists(), "unreferenced files are removed");
    assert!(
        !PathBuf::from(format!("{}.torrent", second.display())).exists(),
        "with their torrent"
    );
    assert!(tarball.is_file(), "the tagged build stays");
}

#[test]
fn pack_failures_are_reported_and_leave_the_image_as_it_was() {
    let mut d = Daemon::start_with("img-pack-fail", no_seeder(""));
    let root = d.dir.join("var/images/compute");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join(format!("boot/vmlinuz-{KVER}")), b"k").unwrap();
    let r = d.get("/config/osimage/compute/_pack");
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let said = wait_job(&mut d, &id, "pack compute: failed");
    assert!(said.contains("no initramfs"), "{said}");
    let img = image_of(&mut d, "compute");
    assert_eq!(img["imagefile"], Value::Null, "{img}");
    let m = d.get("/monitor/osimage/compute").json();
    assert_eq!(m["monitor"]["status"]["compute"]["status"], "failed", "{m}");
    // Nothing half-written is left in the files directory.
    let left: Vec<_> = std::fs::read_dir(d.dir.join("var/files"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().contains("partial")),
        "{left:?}"
    );
}

/// An rsync daemon on `ip:port` serving `root` as module `root`, writable.
struct RsyncDaemon {
    child: Child,
}

impl RsyncDaemon {
    fn start(dir: &Path, ip: &str, port: u16, root: &Path) -> RsyncDaemon {
        let conf = dir.join("rsyncd.conf");
        std::fs::write(
            &conf,
            format!(
                "use chroot = false\nuid = root\ngid = root\npid file = {}\n[root]\npath = {}\nread only = false\n",
                dir.join("rsyncd.pid").display(),
                root.display()
            ),
        )
        .unwrap();
        let child = Command::new("rsync")
            .args(["--daemon", "--no-detach", "--address", ip, "--port"])
            .arg(port.to_string())
            .arg(format!("--config={}", conf.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsync --daemon");
        let url = format!("rsync://{ip}:{port}/");
        let up = wait_until(Duration::from_secs(10), || {
            Command::new("rsync")
                .arg(&url)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(up, "rsync daemon on {url} did not answer");
        RsyncDaemon { child }
    }
}

impl Drop for RsyncDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn grab_and_push_through_an_rsync_daemon() {
    if !require(which("rsync").is_some(), "rsync") {
        return;
    }
    let rsync_port = free_port();
    let mut d = Daemon::start_with(
        "img-rsync",
        no_seeder(&format!(
            "RSYNC_TRANSPORT = daemon\nRSYNC_PORT = {rsync_port}\n"
        )),
    );
    // The node's own filesystem, served by its rsync daemon.
    let node_root = d.dir.join("node-root");
    build_image(&node_root, "from the node");
    let _rsyncd = RsyncDaemon::start(&d.dir, "127.0.90.1", rsync_port, &node_root);
    let r = d.post(
        "/config/network/provnet",
        json!({"config": {"network": {"provnet": {"network": "127.0.90.0/24", "dhcp": false}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/osimage/golden",
        json!({"config": {"osimage": {"golden": {"grab_filesystems": "/", "grab_exclude": "/proc/*"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/node/n1",
        json!({"config": {"node": {"n1": {"group": "compute", "osimage": "golden",
            "interfaces": [{"interface": "BOOTIF", "network": "provnet", "ipaddress": "127.0.90.1"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let image = d.dir.join("var/images/golden");

    // A dry run by default: nothing lands in the image.
    let r = d.post(
        "/config/node/n1/_osgrab",
        json!({"config": {"node": {"n1": {}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let said = wait_job(&mut d, &id, "grab n1 to golden: ");
    assert!(said.contains("dry run"), "{said}");
    assert!(!image.join("etc/luna-marker").exists(), "{said}");

    // For real, and packed afterwards.
    let r = d.post(
        "/config/node/n1/_osgrab",
        json!({"config": {"node": {"n1": {"nodry": true}}}}),
    );
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let said = wait_job(&mut d, &id, "grab n1 to golden: ");
    assert!(!said.contains(": failed"), "{said}");
    assert_eq!(
        std::fs::read_to_string(image.join("etc/luna-marker")).unwrap(),
        "from the node"
    );
    assert!(!image.join("proc/not-packed").exists(), "excluded");
    assert!(
        image_of(&mut d, "golden")["imagefile"].is_string(),
        "packed after the grab"
    );

    // Push a change back to the node.
    std::fs::write(image.join("etc/luna-marker"), "from the image").unwrap();
    std::fs::write(image.join("etc/pushed-only"), "new").unwrap();
    let r = d.post(
        "/config/node/n1/_ospush",
        json!({"config": {"node": {"n1": {}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let said = wait_job(&mut d, &id, "push golden to n1: ");
    assert!(said.contains("pushed to 1 nodes, 0 failed"), "{said}");
    assert_eq!(
        std::fs::read_to_string(node_root.join("etc/luna-marker")).unwrap(),
        "from the image"
    );
    assert!(node_root.join("etc/pushed-only").is_file());
    let m = d.get("/monitor/osimage/golden").json();
    assert_eq!(m["monitor"]["status"]["golden"]["status"], "pushed", "{m}");

    // A node whose rsync daemon does not answer: the push fails, saying why.
    let r = d.post(
        "/config/node/n2",
        json!({"config": {"node": {"n2": {"group": "compute", "osimage": "golden",
            "interfaces": [{"interface": "BOOTIF", "network": "provnet", "ipaddress": "127.0.90.2"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/node/n2/_ospush",
        json!({"config": {"node": {"n2": {}}}}),
    );
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    let said = wait_job(&mut d, &id, "push golden to n2: ");
    assert!(said.contains("push golden to n2: failed"), "{said}");
    assert!(said.contains("rsync"), "{said}");
}

#[test]
fn an_aria2c_swarm_downloads_the_packed_image_through_the_tracker() {
    if !require(which("aria2c").is_some(), "aria2c (aria2)") {
        return;
    }
    // The controller at 127.0.0.1: the torrent's announce and web seed URLs
    // name it, and nothing here may reach a 10.x address.
    let seeder_port = free_port();
    let mut d = Daemon::start_with(
        "img-swarm",
        Options {
            ini: format!(
                "[BOOTSTRAP]\nCLUSTER_NETWORK = 127.0.0.0/16\nCONTROLLER_IP = 127.0.0.1\n\
                 [FILES]\nSEEDER = aria2c\nSEEDER_PORT = {seeder_port}\nSEEDER_UPLOAD_LIMIT = 2097152\n"
            ),
            ..Default::default()
        },
    );
    let root = d.dir.join("var/images/compute");
    build_image(&root, "swarm");
    // 12 MB that do not compress: the seed (2 MB/s) cannot serve four nodes
    // alone in the time they take.
    std::fs::write(
        root.join("usr/share/data/more"),
        pseudo_random(9_000_000, 4),
    )
    .unwrap();
    pack(&mut d, "compute");
    let imagefile = image_of(&mut d, "compute")["imagefile"]
        .as_str()
        .unwrap()
        .to_string();
    let tarball = d.dir.join("var/files").join(&imagefile);
    let torrent = d.dir.join("var/files").join(format!("{imagefile}.torrent"));
    let meta = std::fs::read(&torrent).unwrap();
    let announce = format!("http://127.0.0.1:{}/announce", d.addr.port());
    assert!(
        meta.windows(announce.len())
            .any(|w| w == announce.as_bytes()),
        "announce {announce} in the torrent"
    );
    let token = d.token();
    let header = format!("--header=x-access-tokens: {token}");
    // Four nodes on 127.0.0.2-5, as the tracker sees them.
    let clients: Vec<(PathBuf, Child)> = (0..4)
        .map(|i| {
            let dir = d.dir.join(format!("node{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let log = std::fs::File::create(dir.join("aria2c.out")).unwrap();
            let child = Command::new("timeout")
                .arg("90")
                .arg("aria2c")
                .arg(format!("--dir={}", dir.display()))
                .arg(format!("--interface=127.0.0.{}", i + 2))
                .arg(format!("--log={}", dir.join("aria2c.log").display()))
                .args([
                    "--log-level=info",
                    "--seed-time=0",
                    "--enable-dht=false",
                    "--enable-dht6=false",
                    "--bt-enable-lpd=false",
                    "--enable-peer-exchange=false",
                    "--check-integrity=true",
                    "--summary-interval=0",
                    "--bt-tracker-connect-timeout=10",
                ])
                .arg(format!("--listen-port={}", free_port()))
                .arg(&header)
                .arg(&torrent)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("aria2c");
            (dir, child)
        })
        .collect();
    let want = sha1_of(&tarball);
    let seed = format!("From: 127.0.0.1:{seeder_port} piece");
    let (mut from_seed, mut from_peers) = (0, 0);
    for (dir, mut child) in clients {
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(dir.join("aria2c.log")).unwrap_or_default();
        assert!(
            status.success(),
            "aria2c in {}: {status}\n{log}",
            dir.display()
        );
        assert_eq!(sha1_of(&dir.join(&imagefile)), want, "{log}");
        for line in log.lines().filter(|l| l.contains(" piece index=")) {
            if line.contains(&seed) {
                from_seed += 1;
            } else if line.contains("From: 127.0.0.") {
                from_peers += 1;
            }
        }
    }
    // The controller seeded, and the nodes fed each other.
    assert!(from_seed > 0, "nothing came from the controller's seeder");
    assert!(
        from_peers > 0,
        "nothing came from other nodes ({from_seed} blocks from the seed)"
    );
    // The tracker saw the swarm: announces in the log, a completed download.
    assert!(d.log().contains("/announce"), "{}", d.log());
    let shown = Command::new("aria2c")
        .arg("--show-files")
        .arg(&torrent)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    let hash = shown
        .lines()
        .find_map(|l| l.strip_prefix("Info Hash: "))
        .unwrap_or_else(|| panic!("{shown}"))
        .trim()
        .to_string();
    let escaped: String = (0..hash.len())
        .step_by(2)
        .map(|i| format!("%{}", &hash[i..i + 2]))
        .collect();
    let scrape = d.get_open(&format!("/scrape?info_hash={escaped}"));
    assert_eq!(scrape.status, 200);
    assert_eq!(scrape.header("Content-Type"), Some("text/plain"));
    let body = scrape.text();
    // The swarm is known (both clients announced; they have stopped since).
    assert!(body.starts_with("d5:filesd20:"), "{body}");
    assert!(body.contains("10:incompletei0e"), "{body}");
    // A torrent this controller did not make is not tracked.
    let r = d.get_open(&format!(
        "/announce?info_hash={}&peer_id={}&port=6881",
        "%01".repeat(20),
        "p".repeat(20)
    ));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("unknown torrent"), "{}", r.text());
    // A malformed announce is a 400 with a bencoded reason.
    let r = d.get_open("/announce?peer_id=x&port=1");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("failure reason"), "{}", r.text());
}

#[test]
fn the_tracker_keeps_its_swarms_across_a_kill() {
    let mut d = Daemon::start_with("img-swarm-kill", no_seeder(""));
    build_image(&d.dir.join("var/images/compute"), "kept");
    pack(&mut d, "compute");
    let imagefile = image_of(&mut d, "compute")["imagefile"]
        .as_str()
        .unwrap()
        .to_string();
    let torrent =
        std::fs::read(d.dir.join("var/files").join(format!("{imagefile}.torrent"))).unwrap();
    // The info hash: SHA-1 of the bencoded info dictionary, which runs from
    // after "4:info" to the byte before the torrent's last "e".
    let at = torrent.windows(6).position(|w| w == b"4:info").unwrap() + 6;
    let info = &torrent[at..torrent.len() - 1];
    let hash = {
        let out = Command::new("sha1sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(info)?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&out.stdout)[..40].to_string()
    };
    let escaped: String = (0..40)
        .step_by(2)
        .map(|i| format!("%{}", &hash[i..i + 2]))
        .collect();
    for (i, left) in [(1, 0), (2, 500), (3, 500)] {
        let r = d.get_open(&format!(
            "/announce?info_hash={escaped}&peer_id=-LT0001-{i:012}&port={}&left={left}&event=started",
            7000 + i
        ));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let scrape_path = format!("/scrape?info_hash={escaped}");
    let before = d.get_open(&scrape_path).text();
    assert!(
        before.contains("8:completei1e10:downloadedi0e10:incompletei2e"),
        "{before}"
    );
    // Saved within ten seconds; then the daemon dies without warning.
    let saved = wait_until(Duration::from_secs(15), || {
        let db = rusqlite::Connection::open(d.dir.join("var/luna.db")).unwrap();
        db.query_row("SELECT COUNT(*) FROM trackerpeer", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_or(0)
            == 3
    });
    assert!(saved, "the swarm was not saved");
    d.kill();
    let mut d = Daemon::start_in(&d.dir.clone(), no_seeder(""));
    let after = d.get_open(&scrape_path).text();
    assert_eq!(after, before, "the swarm survived the restart");
}

#[test]
fn files_left_by_an_interrupted_pack_are_removed_at_start() {
    let mut d = Daemon::start_with("img-orphans", no_seeder(""));
    let r = d.post(
        "/config/osimage/compute",
        json!({"config": {"osimage": {"compute": {"kernelfile": "compute-1795000000-vmlinuz-ref"}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    d.kill();
    let files = d.dir.join("var/files");
    std::fs::create_dir_all(&files).unwrap();
    let kept = [
        "compute-1795000000-vmlinuz-ref",
        "ipxe.efi",
        "other-1796000000-vmlinuz-x",
    ];
    let orphans = [
        "compute-1796000000-vmlinuz-6.1",
        "compute-1796000000-initramfs-6.1",
        "compute-1796000000.tar.zst",
        "compute-1796000000.tar.zst.torrent",
        ".compute-1796000001.tar.zst.partial",
    ];
    for f in kept.iter().chain(&orphans) {
        std::fs::write(files.join(f), "x").unwrap();
    }
    let _d = Daemon::start_in(&d.dir.clone(), no_seeder(""));
    for f in kept {
        assert!(files.join(f).is_file(), "{f} is kept");
    }
    for f in orphans {
        assert!(!files.join(f).exists(), "{f} is removed");
    }
}
