//! OS users and groups in a real OpenLDAP `slapd` on a loopback port.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::{temp_dir, wait_until, Daemon, Options};

struct Slapd {
    child: Child,
    uri: String,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN: &str = "cn=admin,dc=cluster";
const ADMIN_PW: &str = "ldap-test-secret";

fn ldap(program: &str, uri: &str, args: &[&str], input: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(["-x", "-H", uri, "-D", ADMIN, "-w", ADMIN_PW])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn start_slapd(dir: &Path) -> Slapd {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("ldap://127.0.0.1:{port}");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let conf = format!(
        "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/nis.schema\ninclude /etc/ldap/schema/inetorgperson.schema\n\
         pidfile {d}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
         database mdb\nsuffix \"dc=cluster\"\nrootdn \"{ADMIN}\"\nrootpw {ADMIN_PW}\ndirectory {d}/db\n",
        d = dir.display()
    );
    std::fs::write(dir.join("slapd.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("slapd.log")).unwrap();
    let child = Command::new("slapd")
        .args([
            "-f",
            &dir.join("slapd.conf").display().to_string(),
            "-h",
            &format!("{uri}/"),
            "-d",
            "0",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("slapd (package slapd)");
    let slapd = Slapd { child, uri };
    let ready = wait_until(Duration::from_secs(10), || {
        ldap("ldapsearch", &slapd.uri, &["-b", "", "-s", "base"], None).0
    });
    assert!(
        ready,
        "slapd did not start: {}",
        std::fs::read_to_string(dir.join("slapd.log")).unwrap_or_default()
    );
    let base = "dn: dc=cluster\nobjectClass: dcObject\nobjectClass: organization\no: cluster\ndc: cluster\n\n\
                dn: ou=People,dc=cluster\nobjectClass: organizationalUnit\nou: People\n\n\
                dn: ou=Group,dc=cluster\nobjectClass: organizationalUnit\nou: Group\n";
    let (ok, out) = ldap("ldapadd", &slapd.uri, &[], Some(base));
    assert!(ok, "{out}");
    slapd
}

fn body(kind: &str, name: &str, v: Value) -> Value {
    json!({"config": { kind: { name: v }}})
}

#[test]
fn os_users_and_groups_live_in_the_directory() {
    let dir = temp_dir("osuser-ldap");
    let slapd = start_slapd(&dir.join("slapd"));
    let ini = format!(
        "[LDAP]\nURI = {}\nBASE = dc=cluster\nBINDDN = {ADMIN}\nBINDPW = {ADMIN_PW}\n",
        slapd.uri
    );
    let mut d = Daemon::start_in(
        &dir,
        Options {
            ini,
            ..Default::default()
        },
    );

    assert_eq!(
        d.post(
            "/config/osgroup/users",
            body("osgroup", "users", json!({"gidNumber": 100}))
        )
        .status,
        201
    );
    assert_eq!(
        d.post(
            "/config/osgroup/admins",
            body("osgroup", "admins", json!({}))
        )
        .status,
        201
    );
    let r = d.post(
        "/config/osuser/alice",
        body("osuser", "alice", json!({"uidNumber": 1050, "gidNumber": 100, "userPassword": "s3cr3t", "cn": "Alice Anderson",
            "sn": "Anderson", "givenName": "Alice", "mail": "alice@controller", "telephoneNumber": "555-0100",
            "loginShell": "/bin/bash", "homeDirectory": "/home/alice", "memberOf": ["users"], "shadowExpire": -1})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.get("/config/osuser/alice");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("userPassword") && !r.text().contains("s3cr3t"));
    assert_eq!(
        r.json()["config"]["osuser"]["alice"],
        json!({"uidNumber": 1050, "gidNumber": 100, "cn": "Alice Anderson", "sn": "Anderson", "givenName": "Alice",
               "mail": "alice@controller", "telephoneNumber": "555-0100", "loginShell": "/bin/bash",
               "homeDirectory": "/home/alice", "memberOf": ["users"], "shadowExpire": -1})
    );
    // The password is stored hashed.
    let (ok, out) = ldap(
        "ldapsearch",
        &slapd.uri,
        &[
            "-LLL",
            "-b",
            "uid=alice,ou=People,dc=cluster",
            "userPassword",
        ],
        None,
    );
    assert!(ok, "{out}");
    let stored = out
        .lines()
        .find_map(|l| l.strip_prefix("userPassword:: "))
        .unwrap_or_default();
    let raw = String::from_utf8(base64_decode(stored)).unwrap_or_default();
    assert!(raw.starts_with("{SSHA}"), "{out}");
    // A bind with the password works: the hash is right.
    let (ok, out) = Command::new("ldapwhoami")
        .args([
            "-x",
            "-H",
            &slapd.uri,
            "-D",
            "uid=alice,ou=People,dc=cluster",
            "-w",
            "s3cr3t",
        ])
        .output()
        .map(|o| {
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert!(ok, "bind as alice: {out}");

    // Defaults for a new user; membership moves.
    assert_eq!(
        d.post(
            "/config/osuser/bob",
            body("osuser", "bob", json!({"memberOf": ["users", "admins"]}))
        )
        .status,
        201
    );
    let bob = d.get("/config/osuser/bob").json()["config"]["osuser"]["bob"].clone();
    assert_eq!(
        (bob["uidNumber"].clone(), bob["homeDirectory"].clone()),
        (json!(1051), json!("/home/bob"))
    );
    assert_eq!(
        d.get("/config/osgroup/users").json()["config"]["osgroup"]["users"],
        json!({"gidNumber": 100, "member": ["alice", "bob"]})
    );
    assert_eq!(
        d.post(
            "/config/osuser/bob",
            body(
                "osuser",
                "bob",
                json!({"memberOf": ["admins"], "loginShell": "/bin/zsh"})
            )
        )
        .status,
        204
    );
    assert_eq!(
        d.get("/config/osgroup/users").json()["config"]["osgroup"]["users"]["member"],
        json!(["alice"])
    );
    assert_eq!(
        d.get("/config/osuser/bob").json()["config"]["osuser"]["bob"]["loginShell"],
        json!("/bin/zsh")
    );
    assert_eq!(
        d.get("/config/osuser").json()["config"]["osuser"]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    for (v, needle) in [
        (json!({"cn": "x\ndn: uid=evil,dc=cluster"}), "printable"),
        (json!({"uidNumber": "many"}), "uidNumber"),
        (json!({"memberOf": ["nope"]}), "nope"),
        (json!({"homeDirectory": "home/x"}), "absolute"),
        (json!({"shoeSize": 44}), "shoeSize"),
    ] {
        let r = d.post("/config/osuser/carol", body("osuser", "carol", v.clone()));
        assert_eq!(r.status, 400, "{v}: {}", r.text());
        assert!(r.message().contains(needle), "{v}: {}", r.message());
    }
    assert_eq!(d.get("/config/osuser/carol").status, 404);
    assert_eq!(
        d.post(
            "/config/osuser/Bad%20Name",
            body("osuser", "Bad Name", json!({}))
        )
        .status,
        400
    );

    assert_eq!(d.get("/config/osuser/bob/_delete").status, 204);
    assert_eq!(d.get("/config/osuser/bob").status, 404);
    assert_eq!(
        d.get("/config/osgroup/admins").json()["config"]["osgroup"]["admins"]["member"],
        json!([])
    );
    assert_eq!(d.get("/config/osgroup/admins/_delete").status, 204);
    assert_eq!(d.get("/config/osgroup/admins/_delete").status, 404);
    assert_eq!(d.get_open("/config/osuser").status, 401);
}

#[test]
fn without_a_directory_os_users_are_unavailable() {
    let mut d = Daemon::start("osuser-none");
    let r = d.get("/config/osuser");
    assert_eq!(r.status, 503);
    assert!(r.message().contains("[LDAP] URI"));
    assert_eq!(
        d.post("/config/osgroup/g", body("osgroup", "g", json!({})))
            .status,
        503
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = T.iter().position(|t| *t == c) else {
            continue;
        };
        buf = buf << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
