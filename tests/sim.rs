//! Simulated BMCs on loopback, for tests of power control:
//!
//! - [`IpmiSim`]: OpenIPMI's `ipmi_sim` (Debian package `openipmi`), answering
//!   `ipmitool -I lanplus` on a 127.x address, from the fixture in
//!   `shared/fixtures/ipmi_sim/` (copied to a temporary directory per BMC).
//! - [`Redfish`]: `sushy-emulator` (PyPI package `sushy-tools`) with its fake
//!   driver, over HTTPS with a fresh self-signed certificate and HTTP basic auth.
//!
//! Every wait is bounded, every address is in 127.0.0.0/8, and both kill their
//! process on drop. Tests that need them call [`require`] first: outside CI a
//! missing tool skips the test with a message, in CI (`CI` set) it fails.

// Helpers for the power-control tests; not every one is used by every test.
#![allow(dead_code)]

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{temp_dir, wait_until};

/// User and password of both simulated BMCs.
pub const BMC_USER: &str = "admin";
pub const BMC_PASSWORD: &str = "admin";

/// ipmitool flags for calls against [`IpmiSim`]: cipher suite 3, one try, 1 s
/// timeout. Without `-C 3`, ipmitool 1.8.19 first asks for the channel's cipher
/// suites, which ipmi_sim does not answer, and waits ~10 s before falling back.
pub const IPMITOOL_FAST: [&str; 6] = ["-C", "3", "-R", "1", "-N", "1"];

/// Where the ipmi_sim fixture lives: `shared/` beside the work tree (as in CI).
fn ipmi_fixture() -> PathBuf {
    // `shared/` beside the work tree; `LUNA2D_SHARED` where a checkout lives
    // elsewhere.
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let shared = std::env::var_os("LUNA2D_SHARED")
        .map(PathBuf::from)
        .unwrap_or(beside);
    shared.join("fixtures/ipmi_sim")
}

/// Returns whether a test that needs `what` may go on: true when it is
/// available; otherwise panics in CI (`CI` set) and, outside CI, prints a skip
/// message and returns false.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("not installed: {what}; CI is set, so .ci/run must install it");
    }
    eprintln!("SKIPPED: not installed: {what} (in CI this test fails instead)");
    false
}

/// The first executable `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn assert_loopback(ip: &str) {
    let addr: Ipv4Addr = ip
        .parse()
        .unwrap_or_else(|e| panic!("{ip:?} is no IPv4 address: {e}"));
    assert_eq!(addr.octets()[0], 127, "{ip} is not in 127.0.0.0/8");
}

/// What a command did: exit status (None if it was killed at the time limit).
#[derive(Debug)]
pub struct Ran {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs a command with no standard input, killing it if it takes longer than
/// `limit`. Panics only if it cannot be started.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Ran {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Panics unless `child` is still running, with `log` (the process's output).
fn assert_running(child: &mut Child, what: &str, log: &Path) {
    if let Ok(Some(status)) = child.try_wait() {
        let out = std::fs::read_to_string(log).unwrap_or_default();
        panic!("{what} exited ({status}):\n{out}");
    }
}

/// One simulated BMC: `ipmi_sim` in its own copy of the fixture.
pub struct IpmiSim {
    dir: PathBuf,
    child: Child,
    ip: String,
    port: u16,
}

impl IpmiSim {
    /// Whether ipmi_sim, ipmitool and the fixture are there.
    pub fn available() -> bool {
        which("ipmi_sim").is_some()
            && which("ipmitool").is_some()
            && ipmi_fixture().join("sim.emu").is_file()
    }

    /// Starts one simulated BMC on ip:port (ip in 127/8) and waits until
    /// `ipmitool ... chassis power status` answers (at most ~10 s); panics with
    /// the sim's output otherwise. chassis.log is emptied once it answers, so it
    /// holds only the calls made after `start`. Power starts off.
    pub fn start(name: &str, ip: &str, port: u16) -> IpmiSim {
        IpmiSim::start_with(name, ip, port, "")
    }

    /// As [`IpmiSim::start`], with lines appended to sim.emu (see
    /// `man ipmi_sim_cmd`), e.g. [`SEL_WITH_ENTRIES`].
    pub fn start_with(name: &str, ip: &str, port: u16, extra_emu: &str) -> IpmiSim {
        assert_loopback(ip);
        let fixture = ipmi_fixture();
        let dir = temp_dir(name);
        for entry in std::fs::read_dir(&fixture)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.display()))
        {
            let path = entry.expect("fixture entry").path();
            if path.is_file() {
                std::fs::copy(&path, dir.join(path.file_name().expect("name")))
                    .unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
            }
        }
        // The fixture is read-only in CI and copies keep its modes: replace, not
        // rewrite in place.
        let rewrite = |file: &str, f: &dyn Fn(String) -> String| {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).expect("read fixture copy");
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, f(text)).expect("write fixture copy");
        };
        rewrite("lan.conf", &|text| {
            let mut found = 0;
            let lines: Vec<String> = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("addr ") {
                        found += 1;
                        format!("    addr {ip} {port}")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            assert_eq!(found, 1, "lan.conf should have one addr line:\n{text}");
            lines.join("\n") + "\n"
        });
        if !extra_emu.is_empty() {
            rewrite("sim.emu", &|text| format!("{text}\n{extra_emu}\n"));
        }
        let log = dir.join("sim.out");
        let out = std::fs::File::create(&log).expect("sim.out");
        let child = Command::new("ipmi_sim")
            .args(["-c", "lan.conf", "-f", "sim.emu", "-n", "-s", "./state"])
            .current_dir(&dir)
            .env_remove("IPMI_SIM_STATE")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn ipmi_sim");
        let mut sim = IpmiSim {
            dir,
            child,
            ip: ip.to_string(),
            port,
        };
        let mut last = None;
        let ready = wait_until(Duration::from_secs(10), || {
            assert_running(&mut sim.child, "ipmi_sim", &log);
            let r = sim.ipmitool(&["chassis", "power", "status"]);
            let ok = r.success() && r.stdout.contains("Chassis Power is");
            last = Some(r);
            ok
        });
        if !ready {
            stop(&mut sim.child);
            panic!(
                "ipmi_sim on {ip}:{port} did not answer in 10 s; last ipmitool: {last:?}\n--- sim.out ---\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        // ipmi_sim does not exit when its address is taken: make sure that the
        // BMC that answered is this one.
        assert!(
            sim.chassis_log().iter().any(|l| l == "get power"),
            "another BMC answers on {ip}:{port} (a stale ipmi_sim?)"
        );
        std::fs::write(sim.dir.join("chassis.log"), "").expect("clear chassis.log");
        sim
    }

    pub fn addr(&self) -> (String, u16) {
        (self.ip.clone(), self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `ipmitool -I lanplus -H ip -p port -U admin -P admin -C 3 -R 1 -N 1
    /// ARGS` against this BMC (killed after 10 s).
    pub fn ipmitool(&self, args: &[&str]) -> Ran {
        let port = self.port.to_string();
        run_bounded(
            Command::new("ipmitool")
                .args(["-I", "lanplus", "-H", &self.ip, "-p", &port])
                .args(["-U", BMC_USER, "-P", BMC_PASSWORD])
                .args(IPMITOOL_FAST)
                .args(args),
            Duration::from_secs(10),
        )
    }

    /// Lines of chassis.log: every chassis call the BMC received since `start`,
    /// e.g. "set power 1", "get power", "set reset 1", "set identify 15 0".
    pub fn chassis_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("chassis.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Current power state from power.state: true = on.
    pub fn power_is_on(&self) -> bool {
        std::fs::read_to_string(self.dir.join("power.state")).is_ok_and(|s| s.trim() == "1")
    }

    /// Sets the power state behind the BMC's back (writes power.state).
    pub fn set_power(&self, on: bool) {
        let state = if on { "1\n" } else { "0\n" };
        std::fs::write(self.dir.join("power.state"), state).expect("write power.state");
    }

    /// ipmi_sim's own output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sim.out")).unwrap_or_default()
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// sim.emu lines that turn on the System Event Log with two entries: without
/// them `sel list` says "SEL has no entries" and `sel clear` fails.
pub const SEL_WITH_ENTRIES: &str = "\
sel_enable 0x20 1000 0x0a
sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x30 0x01 0x52 0x00 0x00
sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x04 0x40 0x01 0x52 0x00 0x00";

/// How [`Redfish::start_with`] sets up the emulator.
#[derive(Clone, Debug)]
pub struct RedfishOptions {
    /// How many fake systems (ids in [`Redfish::system_ids`]).
    pub systems: usize,
    /// Power state of every system at start.
    pub power_on: bool,
    /// Seconds before a requested power change shows: Some(n) fixed (0 =
    /// at once), None = the fake driver's own random 1 to 11 s.
    pub power_delay_secs: Option<u32>,
    /// HTTP basic auth (admin/admin) on everything but /redfish/v1/.
    pub auth: bool,
}

impl Default for RedfishOptions {
    fn default() -> Self {
        RedfishOptions {
            systems: 1,
            power_on: true,
            power_delay_secs: Some(0),
            auth: true,
        }
    }
}

/// bcrypt (cost 4, so each request checks fast) of "admin": sushy-emulator's
/// auth file takes Apache htpasswd lines with bcrypt hashes only.
const ADMIN_BCRYPT: &str = "$2b$04$eYtuRkCMMtaUg5QWz43Ucu6CUuNqdQ2YuvxNEPK36Z8VEnGyKcY7K";

/// A Redfish BMC: sushy-emulator with its fake driver.
pub struct Redfish {
    child: Child,
    dir: PathBuf,
    ip: String,
    port: u16,
    systems: Vec<String>,
    auth: bool,
}

impl Redfish {
    /// The sushy-emulator to run: $SUSHY_EMULATOR, else the one on PATH, else
    /// the venv /opt/sushy-tools.
    pub fn emulator() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("SUSHY_EMULATOR") {
            return Some(PathBuf::from(p)).filter(|p| p.is_file());
        }
        which("sushy-emulator")
            .or_else(|| Some(PathBuf::from("/opt/sushy-tools/bin/sushy-emulator")))
            .filter(|p| p.is_file())
    }

    /// Whether sushy-emulator, openssl and curl are there.
    pub fn available() -> bool {
        Redfish::emulator().is_some() && which("openssl").is_some() && which("curl").is_some()
    }

    /// Starts sushy-emulator (fake driver, one system, powered on, power changes
    /// at once) on ip:port over HTTPS with a fresh self-signed certificate and
    /// basic auth admin/admin; waits (at most 20 s) until it answers.
    pub fn start(name: &str, ip: &str, port: u16) -> Redfish {
        Redfish::start_with(name, ip, port, RedfishOptions::default())
    }

    pub fn start_with(name: &str, ip: &str, port: u16, opts: RedfishOptions) -> Redfish {
        assert_loopback(ip);
        let exe = Redfish::emulator().expect("sushy-emulator not found");
        let dir = temp_dir(name);
        let cert = run_bounded(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "7"])
                .args(["-keyout", "key.pem", "-out", "cert.pem"])
                .arg("-subj")
                .arg(format!("/CN={ip}"))
                .arg("-addext")
                .arg(format!("subjectAltName=IP:{ip}"))
                .current_dir(&dir),
            Duration::from_secs(30),
        );
        assert!(cert.success(), "openssl: {cert:?}");

        // Distinct per emulator (port) so that a mix-up shows.
        let systems: Vec<String> = (1..=opts.systems)
            .map(|i| format!("4c554e41-{port:04x}-4000-8000-{i:012x}"))
            .collect();
        let power = if opts.power_on { "On" } else { "Off" };
        let fake: Vec<Value> = systems
            .iter()
            .enumerate()
            .map(|(i, uuid)| {
                json!({
                    "uuid": uuid,
                    "name": format!("node{:03}", i + 1),
                    "power_state": power,
                    "nics": [{"mac": format!("52:54:00:4c:{:02x}:{:02x}", port % 256, i + 1)}],
                })
            })
            .collect();
        let s = |p: &Path| Value::from(p.to_string_lossy()).to_string();
        // The config file is Python; JSON strings, lists and objects of strings
        // read the same there.
        let mut conf = format!(
            "SUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_STATE_DIR = {}\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = {}\n",
            s(&dir.join("state")),
            Value::from(fake),
        );
        if opts.auth {
            std::fs::write(dir.join("htpasswd"), format!("{BMC_USER}:{ADMIN_BCRYPT}\n"))
                .expect("htpasswd");
            conf += &format!("SUSHY_EMULATOR_AUTH_FILE = {}\n", s(&dir.join("htpasswd")));
        }
        if let Some(delay) = opts.power_delay_secs {
            // The fake driver applies a power change at now + random.randint(1, 11)
            // seconds; fix that delay.
            conf += &format!(
                "import sushy_tools.emulator.resources.systems.fakedriver as _fakedriver\n\
                 class _FixedDelay:\n    \
                     @staticmethod\n    \
                     def randint(a, b):\n        \
                         return {delay}\n\
                 _fakedriver.random = _FixedDelay\n"
            );
        }
        std::fs::write(dir.join("emulator.conf"), conf).expect("emulator.conf");

        let log = dir.join("emulator.log");
        let out = std::fs::File::create(&log).expect("emulator.log");
        let child = Command::new(exe)
            .args(["--config", "emulator.conf", "--fake", "-i", ip, "-p"])
            .arg(port.to_string())
            .args(["--ssl-certificate", "cert.pem", "--ssl-key", "key.pem"])
            .current_dir(&dir)
            .env_remove("SUSHY_EMULATOR_CONFIG")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn sushy-emulator");
        let mut rf = Redfish {
            child,
            dir,
            ip: ip.to_string(),
            port,
            systems,
            auth: opts.auth,
        };
        let mut last = (0, String::new());
        let ready = wait_until(Duration::from_secs(20), || {
            assert_running(&mut rf.child, "sushy-emulator", &log);
            last = rf.request("GET", "/redfish/v1/", None);
            last.0 == 200
        });
        if !ready {
            stop(&mut rf.child);
            panic!(
                "sushy-emulator on {ip}:{port} did not answer in 20 s; last: {last:?}\n--- log ---\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let listed = rf.listed_systems();
        assert_eq!(listed.len(), rf.systems.len(), "systems: {listed:?}");
        for id in &rf.systems {
            assert!(listed.contains(id), "{id} not in {listed:?}");
        }
        rf
    }

    /// "https://127.0.0.x:port"
    pub fn base_url(&self) -> String {
        format!("https://{}:{}", self.ip, self.port)
    }

    pub fn addr(&self) -> (String, u16) {
        (self.ip.clone(), self.port)
    }

    /// The self-signed certificate, for curl --cacert.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// User and password for basic auth.
    pub fn credentials(&self) -> (String, String) {
        (BMC_USER.to_string(), BMC_PASSWORD.to_string())
    }

    /// Ids under /redfish/v1/Systems, in the order configured (the emulator
    /// lists them in its own order).
    pub fn system_ids(&self) -> Vec<String> {
        self.systems.clone()
    }

    fn listed_systems(&self) -> Vec<String> {
        let list = self.get("/redfish/v1/Systems");
        list["Members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x["@odata.id"].as_str())
                    .filter_map(|p| p.rsplit('/').next())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One request with curl (--max-time 5): (status, body); status 0 if curl
    /// got no answer. `path` starts with /redfish.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--noproxy", "*", "--max-time", "5", "-X", method])
            .arg("--cacert")
            .arg(self.ca_file())
            .args(["-w", "\n%{http_code}"]);
        if self.auth {
            cmd.arg("-u").arg(format!("{BMC_USER}:{BMC_PASSWORD}"));
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(b.to_string());
        }
        cmd.arg(format!("{}{path}", self.base_url()));
        let r = run_bounded(&mut cmd, Duration::from_secs(10));
        let (text, code) = r.stdout.rsplit_once('\n').unwrap_or(("", &r.stdout));
        (code.trim().parse().unwrap_or(0), text.to_string())
    }

    /// GET `path` as JSON; panics unless 200.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, None);
        assert_eq!(
            status,
            200,
            "GET {path}: {body}\n--- log ---\n{}",
            self.log()
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// GET /redfish/v1/Systems/{system}.
    pub fn system(&self, system: &str) -> Value {
        self.get(&format!("/redfish/v1/Systems/{system}"))
    }

    /// PowerState of a system as the emulator reports it ("On"/"Off").
    pub fn power_state(&self, system: &str) -> String {
        self.system(system)["PowerState"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The emulator's output (one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("emulator.log")).unwrap_or_default()
    }
}

impl Drop for Redfish {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

#[test]
fn ipmi_sim_answers() {
    if !require(
        IpmiSim::available(),
        "ipmi_sim/ipmitool (Debian: openipmi ipmitool)",
    ) {
        return;
    }
    let sim = IpmiSim::start("ipmi-sim-self", "127.0.77.1", 9623);
    assert_eq!(sim.addr(), ("127.0.77.1".to_string(), 9623));
    assert!(!sim.power_is_on());
    assert!(sim.chassis_log().is_empty(), "{:?}", sim.chassis_log());

    let on = sim.ipmitool(&["chassis", "power", "on"]);
    assert!(on.success(), "{on:?}");
    assert!(on.stdout.contains("Up/On"), "{on:?}");
    let status = sim.ipmitool(&["chassis", "power", "status"]);
    assert!(status.success(), "{status:?}");
    assert_eq!(status.stdout.trim(), "Chassis Power is on");
    assert!(sim.power_is_on());
    assert_eq!(sim.chassis_log(), ["set power 1", "get power"]);

    // Behind the BMC's back, and the password from the environment (-E).
    sim.set_power(false);
    let port = sim.port.to_string();
    let r = run_bounded(
        Command::new("ipmitool")
            .args([
                "-I", "lanplus", "-H", &sim.ip, "-p", &port, "-U", BMC_USER, "-E",
            ])
            .args(IPMITOOL_FAST)
            .args(["chassis", "power", "status"])
            .env("IPMI_PASSWORD", BMC_PASSWORD),
        Duration::from_secs(10),
    );
    assert!(r.success(), "{r:?}");
    assert_eq!(r.stdout.trim(), "Chassis Power is off");
}

#[test]
fn redfish_emulator_answers() {
    if !require(
        Redfish::available(),
        "sushy-emulator (pip install sushy-tools), openssl and curl",
    ) {
        return;
    }
    let rf = Redfish::start("redfish-self", "127.0.77.2", 8443);
    assert_eq!(rf.base_url(), "https://127.0.77.2:8443");
    let ids = rf.system_ids();
    assert_eq!(ids.len(), 1);
    assert_eq!(rf.power_state(&ids[0]), "On");

    // Basic auth: nothing but the service root without it.
    let out = run_bounded(
        Command::new("curl")
            .args([
                "-sS",
                "--noproxy",
                "*",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
            ])
            .args(["-w", "%{http_code}", "--cacert"])
            .arg(rf.ca_file())
            .arg(format!("{}/redfish/v1/Systems", rf.base_url())),
        Duration::from_secs(10),
    );
    assert_eq!(out.stdout, "401", "{out:?}");

    let reset = format!(
        "/redfish/v1/Systems/{}/Actions/ComputerSystem.Reset",
        ids[0]
    );
    let (status, body) = rf.request("POST", &reset, Some(&json!({"ResetType": "ForceOff"})));
    assert_eq!(status, 204, "{body}");
    assert!(
        wait_until(Duration::from_secs(5), || rf.power_state(&ids[0]) == "Off"),
        "still {}\n{}",
        rf.power_state(&ids[0]),
        rf.log()
    );
}
