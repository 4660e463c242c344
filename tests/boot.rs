//! The boot path: menus, node scripts, manual boot, install scripts, files,
//! node monitoring.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{json, Value};

use crate::util::{parse_response, Daemon, Options, Response};

fn node(name: &str, body: Value) -> Value {
    json!({"config": {"node": { name: body }}})
}

/// A cluster whose osimage has boot files, and one node with a MAC.
fn bootable(name: &str) -> Daemon {
    let mut d = Daemon::start(name);
    let db = rusqlite::Connection::open(d.dir.join("var/luna.db")).unwrap();
    db.execute(
        "UPDATE osimage SET kernelfile = 'compute-vmlinuz', initrdfile = 'compute-initrd.img', imagefile = 'compute.tar.gz'",
        [],
    )
    .unwrap();
    let r = d.post(
        "/config/node/node001",
        node(
            "node001",
            json!({"group": "compute", "interfaces": [{"interface": "BOOTIF", "macaddress": "aa:bb:cc:dd:ee:01"}]}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d
}

fn ipxe(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    let text = r.text();
    assert!(text.starts_with("#!ipxe\n"), "{text}");
    text
}

#[test]
fn menus_need_no_token_and_are_ipxe() {
    let mut d = bootable("boot-menus");
    let menu = ipxe(&d.get_open("/boot"));
    assert!(menu.contains("/boot/search/mac/${netX/mac}"), "{menu}");
    assert!(
        menu.contains("/boot/manual/group/compute/${netX/mac}"),
        "{menu}"
    );
    assert!(
        !menu.contains("node001"),
        "nodes with a MAC are not offered: {menu}"
    );
    let short = ipxe(&d.get_open("/boot/short"));
    assert!(!short.contains("manual/group"), "{short}");
    let disk = ipxe(&d.get_open("/boot/disk"));
    assert!(disk.contains("sanboot"), "{disk}");
}

#[test]
fn known_mac_gets_its_node_script() {
    let mut d = bootable("boot-mac");
    let port = d.addr.port();
    let script = ipxe(&d.get_open("/boot/search/mac/AA-BB-CC-DD-EE-01"));
    let expected = format!(
        "#!ipxe\n# Luna2: node001 (compute), osimage compute\n\
         imgfetch -n kernel http://10.141.255.254:{port}/files/compute-vmlinuz\n\
         imgload kernel\n\
         imgargs kernel root=luna luna.bootproto=static luna.mac=aa:bb:cc:dd:ee:01 luna.ip=10.141.0.1/16 \
         luna.gw=10.141.255.254 luna.url=http://10.141.255.254:{port} luna.verifycert=no luna.node=node001 \
         luna.hostname=node001 luna.loghost=10.141.255.254 luna.service=0 net.ifnames=0 biosdevname=0 \
         initrd=initrd.img boot=ramdisk\n\
         imgfetch --name initrd.img http://10.141.255.254:{port}/files/compute-initrd.img\n\
         imgexec kernel\n"
    );
    assert_eq!(script, expected);
    // The boot path records the state in the background.
    let discovered = crate::util::wait_until(std::time::Duration::from_secs(5), || {
        let m = d.get_open("/monitor/node/node001");
        m.json()["monitor"]["status"]["node001"]["state"] == json!("install.discovered")
    });
    assert!(discovered);
}

#[test]
fn boot_table_unknown_mac_netboot_off_and_bad_input() {
    let mut d = bootable("boot-table");
    // Unknown MAC: a failure script that returns to the menu.
    let s = ipxe(&d.get_open("/boot/search/mac/aa:bb:cc:dd:ee:99"));
    assert!(
        s.contains("no node is configured with MAC address aa:bb:cc:dd:ee:99")
            && s.contains("/boot"),
        "{s}"
    );
    // netboot off: the disk script.
    assert_eq!(
        d.post(
            "/config/node/node001",
            node("node001", json!({"netboot": false}))
        )
        .status,
        204
    );
    assert!(ipxe(&d.get_open("/boot/search/mac/aa:bb:cc:dd:ee:01")).contains("sanboot"));
    assert_eq!(
        d.post(
            "/config/node/node001",
            node("node001", json!({"netboot": null}))
        )
        .status,
        204
    );
    // Kernel options with a line break would inject iPXE commands: refused.
    assert_eq!(
        d.post(
            "/config/node/node001",
            node("node001", json!({"kerneloptions": "quiet\nshell"}))
        )
        .status,
        204
    );
    let s = ipxe(&d.get_open("/boot/search/mac/aa:bb:cc:dd:ee:01"));
    assert!(s.contains("line break") && !s.contains("\nshell"), "{s}");
    // The CLI sends kernel options base64-encoded.
    assert_eq!(
        d.post(
            "/config/node/node001",
            node("node001", json!({"kerneloptions": "cXVpZXQgbm9zbXQ="}))
        )
        .status,
        204
    );
    assert!(
        ipxe(&d.get_open("/boot/search/mac/aa:bb:cc:dd:ee:01")).contains(" quiet nosmt initrd=")
    );
    for bad in [
        "/boot/search/mac/zz:bb:cc:dd:ee:01",
        "/boot/search/mac/aa:bb",
        "/boot/manual/group/compute/xyz",
        "/boot/manual/hostname/node001/1",
    ] {
        let r = d.get_open(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.message().contains("MAC"), "{bad}");
    }
    // No kernel: the failure names what is missing. (Through the API: a boot
    // script is cached until the next write the daemon makes.)
    let r = d.post(
        "/config/osimage/compute",
        json!({"config": {"osimage": {"compute": {"kernelfile": null}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let s = ipxe(&d.get_open("/boot/search/mac/aa:bb:cc:dd:ee:01"));
    assert!(s.contains("kernelfile"), "{s}");
}

#[test]
fn manual_boot_by_group_and_by_hostname() {
    let mut d = bootable("boot-manual");
    // node002 exists without a MAC: it is the first free node of the group.
    assert_eq!(
        d.post(
            "/config/node/node002",
            node("node002", json!({"group": "compute"}))
        )
        .status,
        201
    );
    let s = ipxe(&d.get_open("/boot/manual/group/compute/aa:bb:cc:dd:ee:02"));
    assert!(s.contains("luna.node=node002"), "{s}");
    // None free: a new node is created, numbered after the highest.
    let s = ipxe(&d.get_open("/boot/manual/group/compute/aa:bb:cc:dd:ee:03"));
    assert!(s.contains("luna.node=node003"), "{s}");
    let n3 = d.get("/config/node/node003").json();
    let bootif = &n3["config"]["node"]["node003"]["interfaces"][0];
    assert_eq!(
        (bootif["interface"].clone(), bootif["macaddress"].clone()),
        (json!("BOOTIF"), json!("aa:bb:cc:dd:ee:03"))
    );
    assert!(bootif["ipaddress"].is_string());
    // The MAC moves to the named node.
    let s = ipxe(&d.get_open("/boot/manual/hostname/node001/aa:bb:cc:dd:ee:03"));
    assert!(
        s.contains("luna.node=node001") && s.contains("luna.mac=aa:bb:cc:dd:ee:03"),
        "{s}"
    );
    let n3 = d.get("/config/node/node003").json();
    assert_eq!(
        n3["config"]["node"]["node003"]["interfaces"][0]["macaddress"],
        Value::Null
    );
    assert_eq!(
        d.get_open("/boot/manual/hostname/nope/aa:bb:cc:dd:ee:04")
            .status,
        404
    );
    assert_eq!(
        d.get_open("/boot/manual/group/nope/aa:bb:cc:dd:ee:04")
            .status,
        404
    );
}

/// GET from a chosen loopback source address.
fn get_from(src: &str, addr: SocketAddr, path: &str, token: &str) -> Response {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a fresh descriptor that the TcpStream then owns.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from(src.parse::<std::net::Ipv4Addr>().unwrap()).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len),
            0
        );
        TcpStream::from_raw_fd(fd)
    };
    let mut s = socket_connect(stream, addr);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-access-tokens: {token}\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    parse_response(&all).unwrap()
}

fn socket_connect(stream: TcpStream, addr: SocketAddr) -> TcpStream {
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 expected")
    };
    // SAFETY: connect on the descriptor we own, with a valid sockaddr_in.
    unsafe {
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = v4.port().to_be();
        sa.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::connect(
                stream.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                len
            ),
            0
        );
    }
    stream
}

#[test]
fn install_script_is_for_the_node_itself_and_passes_bash_n() {
    let mut d = bootable("boot-install");
    // A loopback network so that the node's own address can be a test client.
    let r = d.post(
        "/config/network/lo",
        json!({"config": {"network": {"lo": {"network": "127.0.0.0/24"}}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post(
        "/config/node/node001",
        node("node001", json!({"interfaces": [{"interface": "eth1", "network": "lo", "ipaddress": "127.0.0.20"}]})),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let token = d.token();
    assert_eq!(d.get_open("/boot/install/node001").status, 401);
    // From the node's own address and from the controller (this host): served.
    for src in ["127.0.0.20", "127.0.0.1"] {
        let r = get_from(src, d.addr, "/boot/install/node001", &token);
        assert_eq!(r.status, 200, "{src}: {}", r.text());
        let script = r.text();
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(
            script.contains("export LUNA_NODE=\"node001\"") && script.contains("IPADDR=10.141.0.1"),
            "{script}"
        );
        let path = d.dir.join("install.sh");
        std::fs::write(&path, &script).unwrap();
        let check = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // From anyone else: refused.
    let r = get_from("127.0.0.21", d.addr, "/boot/install/node001", &token);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        get_from("127.0.0.20", d.addr, "/boot/install/nope", &token).status,
        404
    );

    // The embedded provisioning token reports state for this node only.
    let script = get_from("127.0.0.20", d.addr, "/boot/install/node001", &token).text();
    let ptoken = script
        .lines()
        .find_map(|l| l.strip_prefix("export LUNA_TOKEN=\""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let body =
        json!({"monitor": {"status": {"node001": {"state": "install.success"}}}}).to_string();
    let r = d.request(
        "POST",
        "/monitor/node/node001",
        &[("x-access-tokens", &ptoken)],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let body =
        json!({"monitor": {"status": {"node002": {"state": "install.success"}}}}).to_string();
    let r = d.request(
        "POST",
        "/monitor/node/node002",
        &[("x-access-tokens", &ptoken)],
        Some(body.as_bytes()),
    );
    assert_eq!(
        r.status, 401,
        "another node's endpoint: not a valid token there"
    );
    let r = d.request("GET", "/config/node", &[("x-access-tokens", &ptoken)], None);
    assert_eq!(r.status, 401, "a provisioning token is not an admin token");
    // Kickstart: the same origin rule, no token.
    let r = get_from("127.0.0.20", d.addr, "/kickstart/install/node001", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("%post"));
    assert_eq!(
        get_from("127.0.0.21", d.addr, "/kickstart/install/node001", "").status,
        403
    );
}

#[test]
fn node_monitoring() {
    let mut d = bootable("monitor");
    let post =
        |d: &mut Daemon, name: &str, body: Value| d.post(&format!("/monitor/node/{name}"), body);
    let r = post(
        &mut d,
        "node001",
        json!({"monitor": {"status": {"node001": {"state": "install.started"}}}}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = d.get_open("/monitor/node/node001");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["monitor"]["status"]["node001"]["status"],
        json!("Luna installer: started")
    );
    let r = post(
        &mut d,
        "node001",
        json!({"monitor": {"status": {"node001": {"state": "install.error"}}}}),
    );
    assert_eq!(r.status, 204);
    assert_eq!(d.get_open("/monitor/node/node001").status, 500);
    let all = d.get("/monitor/node").json();
    assert_eq!(
        all["monitor"]["status"]["node"]["node001"]["state"],
        json!("node001 install.error")
    );
    assert_eq!(d.get_open("/monitor/node").status, 401);
    assert_eq!(d.get_open("/monitor/node/nope").status, 404);
    assert_eq!(
        post(
            &mut d,
            "nope",
            json!({"monitor": {"status": {"nope": {"state": "x"}}}})
        )
        .status,
        404
    );
    assert_eq!(
        post(
            &mut d,
            "node001",
            json!({"monitor": {"status": {"node001": {}}}})
        )
        .status,
        400
    );
    assert_eq!(
        post(
            &mut d,
            "node001",
            json!({"monitor": {"status": {"node001": {"state": "x", "mood": 1}}}})
        )
        .status,
        400
    );
    let r = d.post_raw("/monitor/node/node001", None, "{}");
    assert_eq!(r.status, 401);
}

#[test]
fn files_are_listed_streamed_and_confined() {
    let mut d = Daemon::start_with("files", Options::default());
    let dir = d.dir.join("var/files");
    assert_eq!(d.get_open("/files").status, 503, "nothing to list yet");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("compute-vmlinuz"), &big).unwrap();
    std::fs::write(dir.join("compute.tar.gz"), b"image").unwrap();
    std::fs::write(d.dir.join("secret.txt"), b"outside").unwrap();
    std::os::unix::fs::symlink(d.dir.join("secret.txt"), dir.join("escape")).unwrap();
    let r = d.get_open("/files");
    assert_eq!(
        r.json(),
        json!(["compute-vmlinuz", "compute.tar.gz"]),
        "symlinks are not offered"
    );

    let r = d.get_open("/files/compute-vmlinuz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("3000000"));
    assert!(r.header("Transfer-Encoding").is_none());
    assert!(r.body == big, "content differs");

    assert_eq!(d.get_open("/files/compute.tar.gz").status, 401);
    let r = d.get("/files/compute.tar.gz");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"image"[..]));
    for bad in [
        "/files/..%2Fsecret.txt",
        "/files/%2Fetc%2Fpasswd",
        "/files/a%00b",
        "/files/.hidden",
    ] {
        let r = d.get_open(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    // The spec answers a file that cannot be served with 503 (no 404); a
    // path that climbs out of /files is no endpoint at all.
    let r = d.get_open("/files/../secret.txt");
    assert_eq!(r.status, 404, "{}", r.text());
    for missing in ["/files/escape", "/files/nope"] {
        let r = d.get_open(missing);
        assert_eq!(r.status, 503, "{missing}: {}", r.text());
    }

    let r = d.request(
        "GET",
        "/filesauth",
        &[("X-Original-URI", "/files/compute-vmlinuz")],
        None,
    );
    assert_eq!((r.status, r.json()), (200, json!({"message": "Go"})));
    let r = d.request(
        "GET",
        "/filesauth",
        &[("X-Original-URI", "/files/compute.tar.gz")],
        None,
    );
    assert_eq!(r.status, 401);
    let t = d.token();
    let r = d.request(
        "GET",
        "/filesauth",
        &[
            ("X-Original-URI", "/files/compute.tar.gz"),
            ("x-access-tokens", &t),
        ],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(d.get_open("/filesauth").status, 401);
}

#[test]
fn roles_and_scripts_are_served_base64_with_a_token() {
    let mut d = Daemon::start("boot-roles");
    let roles = d.dir.join("var/roles");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(
        roles.join("slurm"),
        "# target: postscript\nsystemctl enable slurmd\n",
    )
    .unwrap();
    let r = d.get("/boot/roles/slurm");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["target"], json!("postscript"));
    let script = r.json()["script"].as_str().unwrap().to_string();
    assert_eq!(
        script,
        "IyB0YXJnZXQ6IHBvc3RzY3JpcHQKc3lzdGVtY3RsIGVuYWJsZSBzbHVybWQK"
    );
    assert_eq!(d.get_open("/boot/roles/slurm").status, 401);
    assert_eq!(d.get("/boot/roles/nope").status, 404);
    assert_eq!(d.get("/boot/scripts/nope").status, 404);
    assert_eq!(d.get("/boot/roles/..%2Fsecret.key").status, 400);
}
