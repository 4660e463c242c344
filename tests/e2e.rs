//! A real machine provisions itself from luna2d: iPXE in QEMU → kernel →
//! installer → image → report (issue 13).
//!
//! QEMU (TCG, no KVM) boots its e1000 NIC's iPXE ROM with `-boot n`; the
//! user-mode network's DHCP names luna2d's `/boot` as the boot file, and the
//! guest's 10.0.2.2 is the host's 127.0.0.1, where luna2d listens, so nothing
//! leaves the machine. luna2d's cluster network is QEMU's (10.0.2.0/24, the
//! controller at 10.0.2.2, `[BOOTSTRAP]`).
//!
//! The OS image is a busybox-static tree holding a marker file, a real Debian
//! kernel (`linux-image-amd64`, `/boot/vmlinuz-*`) and, as the image's
//! initramfs, the installer built here; luna2d's own `_pack` makes the kernel,
//! initrd, tarball and torrent the node fetches.
//!
//! The installer initramfs: busybox-static, and bash, curl, GNU tar, zstd and
//! aria2c with their shared libraries, the kernel's e1000 module, and a small
//! `/init`. That `/init` is the shim standing in for dracut's luna module
//! (which a full dracut environment would have): it mounts the
//! pseudo-filesystems, loads the NIC driver, reads the `luna.*` kernel
//! arguments of luna2d's boot script, configures the interface whose MAC is
//! `luna.mac` with `luna.ip`/`luna.gw`, gets the node's token from
//! `POST /tpm/<luna.node>` (QEMU has no TPM: a stand-in hash, which luna2d
//! records on first use since cluster security is off), fetches
//! `/boot/install/<luna.node>` with it and runs it with bash. luna2d's install
//! template runs unchanged. The group's
//! post script reports the image's marker file back (the node's comment), so
//! the test knows the installer saw the unpacked image.
//!
//! Asserted from luna2d's request log and API, in order: `/boot`, the boot
//! script by MAC (or the discovery path), the kernel and initrd from `/files`,
//! `/boot/install/<node>`, the image download (torrent first: the `.torrent`
//! and the tracker, pieces from luna2d's seeder; HTTP as the fallback in the
//! second scenario), and `install.success` in `/monitor/node/<node>`.
//! The guest's serial console is kept in the test's directory
//! (`console-<scenario>.log`) and printed on failure; `make e2e` runs this
//! test alone with the console on screen (`LUNA2D_E2E_CONSOLE=1`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sim::{require, which};
use crate::util::{wait_until, Daemon, Options};

/// The longest one guest may run (QEMU is also under `timeout`).
const GUEST_LIMIT: Duration = Duration::from_secs(150);

/// The newest installed Debian kernel and its e1000 module.
fn kernel() -> Option<(String, PathBuf, PathBuf)> {
    let mut versions: Vec<String> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("vmlinuz-").map(str::to_string)
        })
        .collect();
    versions.sort();
    versions.into_iter().rev().find_map(|v| {
        let module = PathBuf::from(format!(
            "/lib/modules/{v}/kernel/drivers/net/ethernet/intel/e1000/e1000.ko"
        ));
        let packed = module.with_extension("ko.xz");
        let module = if module.is_file() {
            module
        } else if packed.is_file() {
            packed
        } else {
            return None;
        };
        Some((
            v.clone(),
            PathBuf::from(format!("/boot/vmlinuz-{v}")),
            module,
        ))
    })
}

/// The static busybox (Debian's busybox-static).
fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Copies `file` to the same path under `root` (the content, not a link).
fn copy_in(root: &Path, file: &Path) {
    let dest = root.join(file.strip_prefix("/").unwrap_or(file));
    if dest.exists() {
        return;
    }
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
}

/// Copies a dynamically linked program and every library `ldd` names.
fn copy_program(root: &Path, program: &Path) {
    copy_in(root, program);
    let out = Command::new("ldd").arg(program).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libx.so.1 => /lib/.../libx.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            copy_in(root, Path::new(p));
        }
    }
}

const INIT: &str = r#"#!/bin/sh
# luna2d e2e installer shim: what dracut's luna module does, in busybox sh.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /run /sysroot /lunatmp
echo "luna-e2e: init started"
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        luna.*=*)
            key=${arg%%=*}
            key=${key#luna.}
            eval "LUNA_ARG_$key=\${arg#*=}"
            ;;
    esac
done
echo "luna-e2e: node=$LUNA_ARG_node mac=$LUNA_ARG_mac ip=$LUNA_ARG_ip url=$LUNA_ARG_url"
insmod /lib/e1000.ko || echo "luna-e2e: insmod e1000 failed"
IFACE=""
i=0
while [ -z "$IFACE" ] && [ $i -lt 100 ]; do
    for dev in /sys/class/net/*; do
        if [ "$(cat $dev/address)" = "$LUNA_ARG_mac" ]; then
            IFACE=${dev##*/}
        fi
    done
    [ -n "$IFACE" ] || sleep 0.1
    i=$((i + 1))
done
if [ -z "$IFACE" ]; then
    echo "luna-e2e: no interface with MAC $LUNA_ARG_mac"
    poweroff -f
fi
ip link set lo up
ip link set "$IFACE" up
case "$LUNA_ARG_ip" in
    */*) ADDR=$LUNA_ARG_ip ;;
    *) ADDR=$LUNA_ARG_ip/24 ;;
esac
ip addr add "$ADDR" dev "$IFACE"
[ -n "$LUNA_ARG_gw" ] && ip route add default via "$LUNA_ARG_gw"
echo "luna-e2e: $IFACE is $ADDR"
export LUNA_BOOTIF="$IFACE"
# The node's token, as dracut's luna module gets it: from /tpm/<node>. QEMU
# has no TPM: a stand-in hash, recorded on first use (cluster security off).
TPM=$(echo "$LUNA_ARG_mac" | sha256sum | cut -d' ' -f1)
TOKEN=$(curl -s -f -X POST -H "Content-Type: application/json" \
    -d "{\"tpm_sha256\": \"$TPM\"}" "$LUNA_ARG_url/tpm/$LUNA_ARG_node" \
    | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
echo "luna-e2e: token of ${#TOKEN} characters"
if curl -s -f -H "x-access-tokens: $TOKEN" -o /install.sh \
    "$LUNA_ARG_url/boot/install/$LUNA_ARG_node"; then
    echo "luna-e2e: running the install script"
    bash /install.sh
    echo "luna-e2e: install script exited $?"
else
    echo "luna-e2e: no install script"
fi
sync
poweroff -f
"#;

/// The installer initramfs (gzip'ed newc cpio), built under `dir`.
fn build_installer(dir: &Path, module: &Path) -> PathBuf {
    let root = dir.join("installer");
    let _ = std::fs::remove_dir_all(&root);
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "etc", "lib",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let busybox = busybox().expect("busybox");
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    for tool in ["bash", "curl", "tar", "zstd", "aria2c"] {
        copy_program(&root, &which(tool).unwrap_or_else(|| panic!("{tool}")));
    }
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join("bin").join(applet);
        let gnu = ["bash", "curl", "tar", "zstd", "aria2c"].contains(&applet);
        if !gnu && !link.exists() && applet != "busybox" {
            std::os::unix::fs::symlink("busybox", &link).unwrap();
        }
    }
    if module.extension().is_some_and(|e| e == "xz") {
        let out = Command::new("xz").arg("-dc").arg(module).output().unwrap();
        std::fs::write(root.join("lib/e1000.ko"), out.stdout).unwrap();
    } else {
        std::fs::copy(module, root.join("lib/e1000.ko")).unwrap();
    }
    let init = root.join("init");
    std::fs::write(&init, INIT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Every path, directories before what they hold, for cpio.
    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        entries.sort();
        for name in entries {
            let p = rel.join(&name);
            out.push(p.to_string_lossy().into_owned());
            let meta = std::fs::symlink_metadata(root.join(&p)).unwrap();
            if meta.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut names = Vec::new();
    walk(&root, Path::new(""), &mut names);
    let cpio_path = dir.join("installer.cpio");
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet", "-R", "0:0"])
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&cpio_path).unwrap())
        .spawn()
        .expect("cpio");
    cpio.stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", names.join("\n")).as_bytes())
        .unwrap();
    assert!(cpio.wait().unwrap().success(), "cpio failed");
    let gz = dir.join("installer.img");
    let ok = Command::new("gzip")
        .args(["-6", "-c"])
        .arg(&cpio_path)
        .stdout(std::fs::File::create(&gz).unwrap())
        .status()
        .unwrap()
        .success();
    assert!(ok, "gzip failed");
    gz
}

/// The OS image: busybox, a marker, the kernel and the installer initramfs.
fn build_image(root: &Path, version: &str, vmlinuz: &Path, installer: &Path, marker: &str) {
    for d in ["bin", "etc", "boot", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox().expect("busybox"), root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "mount"] {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/luna-e2e-marker"), marker).unwrap();
    std::fs::write(root.join("etc/os-release"), "NAME=e2e\nID=e2e\n").unwrap();
    std::fs::copy(vmlinuz, root.join(format!("boot/vmlinuz-{version}"))).unwrap();
    std::fs::copy(
        installer,
        root.join(format!("boot/initramfs-{version}.img")),
    )
    .unwrap();
}

/// A QEMU guest, killed (through `timeout`, by pid) when dropped.
struct Guest {
    child: Child,
    console: PathBuf,
    started: Instant,
    /// `started` as a second of the day (UTC), to place logged requests.
    wall: f64,
}

impl Guest {
    fn boot(dir: &Path, scenario: &str, bootfile: &str, mac: &str) -> Guest {
        let console = dir.join(format!("console-{scenario}.log"));
        let mut child = Command::new("timeout")
            .arg(GUEST_LIMIT.as_secs().to_string())
            .arg("qemu-system-x86_64")
            .args(["-machine", "pc,accel=tcg", "-m", "768", "-smp", "1"])
            .args(["-nographic", "-no-reboot", "-boot", "n"])
            .arg("-netdev")
            .arg(format!("user,id=n0,bootfile={bootfile}"))
            .arg("-device")
            .arg(format!("e1000,netdev=n0,mac={mac}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start qemu");
        let show = std::env::var_os("LUNA2D_E2E_CONSOLE").is_some();
        let started = Instant::now();
        let wall = now_second_of_day();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let path = console.clone();
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    let stamp = format!("[{:6.1}s] ", started.elapsed().as_secs_f64());
                    let _ = file.write_all(stamp.as_bytes());
                    let _ = file.write_all(&line);
                    if show {
                        let _ = std::io::stderr().write_all(&line);
                    }
                    line.clear();
                }
            });
        }
        Guest {
            child,
            console,
            started,
            wall,
        }
    }

    fn console(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// Waits for the guest to power off; false when the limit came first.
    fn wait(&mut self, limit: Duration) -> bool {
        wait_until(limit, || matches!(self.child.try_wait(), Ok(Some(_))))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // `timeout` passes SIGTERM on to QEMU.
        // SAFETY: a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        if !wait_until(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One request of luna2d's log: the second of the day (UTC) it was logged
/// at, and "GET /path 200 1.0ms".
struct Logged {
    at: f64,
    line: String,
}

/// Seconds since midnight UTC of an RFC 3339 time ("2026-12-03T15:25:44.02Z").
fn second_of_day(stamp: &str) -> Option<f64> {
    let time = stamp.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn now_second_of_day() -> f64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_secs_f64() % 86_400.0
}

/// The requests luna2d logged, in order. The test's own polling
/// (`GET /monitor/node`, `/config/node`) is left out.
fn requests(d: &Daemon) -> Vec<Logged> {
    d.log()
        .lines()
        .filter_map(|l| {
            let at = l.find("] GET /").or_else(|| l.find("] POST /"))?;
            Some(Logged {
                at: second_of_day(l.split_whitespace().next()?)?,
                line: l[at + 2..].to_string(),
            })
        })
        .filter(|r| {
            !r.line.starts_with("GET /monitor/node") && !r.line.starts_with("GET /config/node")
        })
        .collect()
}

/// Checks that `steps` (a name and the start of a request line) were logged in
/// this order, and prints the boot timeline: seconds from `start` (QEMU's
/// start, a second of the day) to each. Panics naming the first step missing,
/// with the requests and the guest's console.
fn assert_in_order(reqs: &[Logged], steps: &[(&str, String)], start: f64, guest: &Guest) {
    let mut from = 0;
    let mut timeline = String::new();
    for (what, prefix) in steps {
        match reqs
            .iter()
            .skip(from)
            .position(|r| r.line.starts_with(prefix.as_str()))
        {
            Some(i) => {
                from += i + 1;
                let r = &reqs[from - 1];
                timeline.push_str(&format!("{:7.1}s  {what:<16} {}\n", r.at - start, r.line));
            }
            None => panic!(
                "step '{what}' ({prefix}) not seen after request {from}:\n{}\n--- serial console ---\n{}",
                reqs.iter().map(|r| r.line.as_str()).collect::<Vec<_>>().join("\n"),
                guest.console()
            ),
        }
    }
    eprintln!("e2e: boot timeline (seconds from QEMU's start)\n{timeline}");
}

fn image(d: &mut Daemon) -> Value {
    d.get("/config/osimage/compute").json()["config"]["osimage"]["compute"].clone()
}

fn state(d: &mut Daemon, node: &str) -> String {
    d.get(&format!("/monitor/node/{node}")).json()["monitor"]["status"][node]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Boots one guest and waits for `node` (or whichever node gets `mac`) to
/// report `install.success`; answers the node's name.
fn provision(
    d: &mut Daemon,
    scenario: &str,
    bootfile: &str,
    mac: &str,
    node: Option<&str>,
) -> (String, Guest) {
    let mut guest = Guest::boot(&d.dir, scenario, bootfile, mac);
    let mut name = node.map(str::to_string);
    let mut last = String::new();
    let done = wait_until(GUEST_LIMIT, || {
        if name.is_none() {
            name = d.get("/config/node").json()["config"]["node"]
                .as_object()
                .and_then(|nodes| {
                    nodes.iter().find_map(|(n, v)| {
                        let ifaces = v["interfaces"].as_array()?;
                        ifaces
                            .iter()
                            .any(|i| i["macaddress"] == mac)
                            .then(|| n.clone())
                    })
                });
        }
        if let Some(n) = &name {
            last = state(d, n);
        }
        last == "install.success" || matches!(guest.child.try_wait(), Ok(Some(_)))
    });
    let name = name.unwrap_or_default();
    if !(done && last == "install.success") {
        // Let the console catch up before showing it.
        std::thread::sleep(Duration::from_millis(500));
        panic!(
            "scenario {scenario}: node '{name}' reached '{last}' (not install.success) after {:.0}s\n--- serial console ---\n{}\n--- requests ---\n{}",
            guest.started.elapsed().as_secs_f64(),
            guest.console(),
            requests(d).iter().map(|r| r.line.as_str()).collect::<Vec<_>>().join("\n")
        );
    }
    // The shim powers the guest off once the install script returned.
    guest.wait(Duration::from_secs(20));
    (name, guest)
}

#[test]
fn a_node_boots_with_ipxe_installs_its_image_and_reports_success() {
    let kernel = kernel();
    if !require(which("qemu-system-x86_64").is_some(), "qemu-system-x86_64")
        || !require(
            kernel.is_some(),
            "a Debian kernel in /boot with e1000 (linux-image-amd64)",
        )
        || !require(which("cpio").is_some(), "cpio")
        || !require(which("aria2c").is_some(), "aria2c")
        || !require(which("zstd").is_some(), "zstd")
        || !require(busybox().is_some(), "busybox (busybox-static)")
    {
        return;
    }
    let (version, vmlinuz, module) = kernel.unwrap();
    let seeder_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let mut d = Daemon::start_with(
        "e2e",
        Options {
            ini: format!(
                "[BOOTSTRAP]\nCLUSTER_NETWORK = 10.0.2.0/24\nCONTROLLER_IP = 10.0.2.2\n\
                 [FILES]\nSEEDER = aria2c\nSEEDER_PORT = {seeder_port}\n"
            ),
            ..Default::default()
        },
    );
    let t0 = Instant::now();
    let marker = format!(
        "e2e-marker-{}-{}",
        std::process::id(),
        t0.elapsed().as_nanos()
    );
    let installer = build_installer(&d.dir, &module);
    build_image(
        &d.dir.join("var/images/compute"),
        &version,
        &vmlinuz,
        &installer,
        &marker,
    );
    // The kernel speaks on the serial console; the group's post script
    // reports the image's marker (the installer saw the unpacked image).
    let r = d.post(
        "/config/osimage/compute",
        json!({"config": {"osimage": {"compute": {
            "kerneloptions": "console=ttyS0 loglevel=4 panic=-1"}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let post = "luna_post \"/config/node/${LUNA_NODE}\" \
        '{\"config\": {\"node\": {\"'\"${LUNA_NODE}\"'\": {\"comment\": \"saw '\"$(cat /sysroot/etc/luna-e2e-marker)\"'\"} } } }'\n";
    // A role of the data directory and the shipped default script: the
    // installer asks luna2d for both and runs them at their stage; the role
    // reports itself (the node's asset tag).
    let roles = d.dir.join("var/roles");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(
        roles.join("e2e"),
        "# target: postscript\n\
         luna_post \"/config/node/${LUNA_NODE}\" \
         '{\"config\": {\"node\": {\"'\"${LUNA_NODE}\"'\": {\"assettag\": \"role e2e ran\"} } } }'\n",
    )
    .unwrap();
    let r = d.post(
        "/config/group/compute",
        json!({"config": {"group": {"compute": {
            "postscript": post, "roles": "e2e", "scripts": "default"}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let said = crate::images::pack(&mut d, "compute");
    let img = image(&mut d);
    eprintln!(
        "e2e: image packed in {:.1}s\n{said}",
        t0.elapsed().as_secs_f64()
    );

    // Scenario 1: a known node, by its MAC; the image by torrent.
    let mac = "52:54:00:12:34:56";
    let r = d.post(
        "/config/node/node001",
        json!({"config": {"node": {"node001": {"group": "compute", "interfaces": [
            {"interface": "BOOTIF", "macaddress": mac, "ipaddress": "10.0.2.15"}]}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let port = d.addr.port();
    let before = requests(&d).len();
    let (name, guest) = provision(
        &mut d,
        "known",
        &format!("http://10.0.2.2:{port}/boot"),
        mac,
        Some("node001"),
    );
    let took = guest.started.elapsed();
    let reqs = requests(&d).split_off(before);
    let file = |k: &str| format!("GET /files/{} 200", img[k].as_str().unwrap());
    assert_in_order(
        &reqs,
        &[
            ("boot menu", "GET /boot 200".into()),
            // iPXE escapes the colons of `${netX/mac}`; the log shows the path as sent.
            (
                "boot script",
                format!("GET /boot/search/mac/{} 200", mac.replace(':', "%3A")),
            ),
            ("kernel", file("kernelfile")),
            ("initrd", file("initrdfile")),
            ("node token", format!("POST /tpm/{name} 200")),
            ("install script", format!("GET /boot/install/{name} 200")),
            ("install started", format!("POST /monitor/node/{name} 204")),
            ("role", "GET /boot/roles/e2e 200".into()),
            ("script", "GET /boot/scripts/default 200".into()),
            (
                "torrent",
                format!(
                    "GET /files/{}.torrent 200",
                    img["imagefile"].as_str().unwrap()
                ),
            ),
            ("tracker", "GET /announce 200".into()),
            ("marker reported", format!("POST /config/node/{name} 204")),
            ("role reported", format!("POST /config/node/{name} 204")),
            ("success", format!("POST /monitor/node/{name} 204")),
        ],
        guest.wall,
        &guest,
    );
    // The image came by BitTorrent (from luna2d's seeder, the swarm's only
    // other peer; no web seed), not over HTTP.
    let tarball = file("imagefile");
    assert!(
        !reqs.iter().any(|r| r.line.starts_with(&tarball)),
        "the HTTP fallback was used:\n{}",
        guest.console()
    );
    let node = d.get(&format!("/config/node/{name}")).json();
    assert_eq!(
        node["config"]["node"][&name]["comment"],
        json!(format!("saw {marker}")),
        "{node}\n{}",
        guest.console()
    );
    assert_eq!(
        node["config"]["node"][&name]["assettag"],
        json!("role e2e ran"),
        "{node}\n{}",
        guest.console()
    );
    let console = guest.console();
    assert!(console.contains("Luna2: downloading"), "{console}");
    eprintln!(
        "e2e: scenario 'known' provisioned in {:.1}s",
        took.as_secs_f64()
    );
    drop(guest);

    // Scenario 2: an unknown MAC, enrolled through the group's discovery
    // path (the boot menu's "new node of group compute"); HTTP download.
    let mac2 = "52:54:00:12:34:57";
    let r = d.post(
        "/config/cluster",
        json!({"config": {"cluster": {"provision_method": "http", "provision_fallback": "http"}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let before = requests(&d).len();
    let (name2, guest) = provision(
        &mut d,
        "discovered",
        &format!("http://10.0.2.2:{port}/boot/manual/group/compute/${{net0/mac}}"),
        mac2,
        None,
    );
    assert_ne!(name2, name, "a new node, not the first one");
    let reqs = requests(&d).split_off(before);
    assert_in_order(
        &reqs,
        &[
            (
                "discovery",
                format!(
                    "GET /boot/manual/group/compute/{} 200",
                    mac2.replace(':', "%3A")
                ),
            ),
            ("kernel", file("kernelfile")),
            ("initrd", file("initrdfile")),
            ("node token", format!("POST /tpm/{name2} 200")),
            ("install script", format!("GET /boot/install/{name2} 200")),
            ("install started", format!("POST /monitor/node/{name2} 204")),
            ("image over HTTP", file("imagefile")),
            ("marker reported", format!("POST /config/node/{name2} 204")),
            ("success", format!("POST /monitor/node/{name2} 204")),
        ],
        guest.wall,
        &guest,
    );
    let node = d.get(&format!("/config/node/{name2}")).json();
    assert_eq!(
        node["config"]["node"][&name2]["comment"],
        json!(format!("saw {marker}")),
        "{node}"
    );
    eprintln!(
        "e2e: scenario 'discovered' ({name2}) provisioned in {:.1}s; total {:.1}s",
        guest.started.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
