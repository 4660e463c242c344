//! Service control, status polling, template reloads.

use std::time::Duration;

use serde_json::json;

use crate::util::{Daemon, Options};

#[test]
fn luna2_reload_rereads_templates_with_cooldown_and_status() {
    let ini = "[SERVICES]\nCOOLDOWN = 1s\n";
    let mut d = Daemon::start_with(
        "svc-reload",
        Options {
            ini: ini.into(),
            ..Default::default()
        },
    );
    let tdir = d.dir.join("var/templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(
        tdir.join("templ_boot_disk.cfg"),
        "#!ipxe\n# site disk script\nsanboot --drive 0x81\n",
    )
    .unwrap();
    let before = d.get_open("/boot/disk").text();
    assert!(
        !before.contains("site disk script"),
        "not before a reload: {before}"
    );

    let r = d.get("/service/luna2/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    assert!(d.get_open("/boot/disk").text().contains("site disk script"));
    assert_eq!(
        d.get("/service/luna2/reload").status,
        204,
        "within the cooldown"
    );
    assert_eq!(d.get_open("/service/luna2/reload").status, 401);

    assert_eq!(
        d.get_open(&format!("/service/status/{id}")).status,
        401,
        "polling needs a token"
    );
    let s = d.get(&format!("/service/status/{id}"));
    assert_eq!(s.status, 200);
    assert_eq!(s.json()["status"], json!(200));
    assert!(
        s.json()["message"].as_str().unwrap().contains("reloaded"),
        "{}",
        s.text()
    );
    assert_eq!(
        d.get(&format!("/service/status/{id}")).status,
        404,
        "messages are returned once"
    );
    assert_eq!(d.get("/service/status/nope").status, 404);

    // A broken template: the reload fails naming it and its line; the old set stays.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        tdir.join("templ_boot_disk.cfg"),
        "#!ipxe\n\n{% if broken %}\n",
    )
    .unwrap();
    let r = d.get("/service/luna2/reload");
    assert_eq!(r.status, 500, "{}", r.text());
    let msg = r.message();
    assert!(msg.contains("templ_boot_disk.cfg:3:"), "{msg}");
    assert!(
        d.get_open("/boot/disk").text().contains("site disk script"),
        "the previous templates are kept"
    );
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    assert_eq!(
        d.get(&format!("/service/status/{id}")).json()["status"],
        json!(500)
    );
    assert_eq!(d.get("/service/nope/reload").status, 404);
}

#[test]
fn a_template_that_fails_to_render_is_a_500_naming_it() {
    let mut d = Daemon::start("svc-render");
    let tdir = d.dir.join("var/templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(
        tdir.join("templ_boot_ipxe_short.cfg"),
        "#!ipxe\necho {{ no_such_value }}\n",
    )
    .unwrap();
    assert_eq!(d.get("/service/luna2/reload").status, 200);
    let r = d.get_open("/boot/short");
    assert_eq!(r.status, 500);
    assert!(
        r.message().contains("templ_boot_ipxe_short.cfg"),
        "{}",
        r.message()
    );
    assert!(d.is_running());
}

#[test]
fn service_monitoring_reports_the_command_result() {
    let ok = Options {
        ini: "[SERVICES]\nCOMMAND = /bin/true\n".into(),
        ..Default::default()
    };
    let mut d = Daemon::start_with("svc-up", ok);
    let r = d.get_open("/monitor/service/dhcp");
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"monitor": {"service": {"dhcp": "OK, running"}}})
        )
    );
    assert_eq!(d.get_open("/monitor/service/luna2").status, 200);
    assert_eq!(d.get_open("/monitor/service/ftp").status, 404);
    let down = Options {
        ini: "[SERVICES]\nCOMMAND = /bin/false\n".into(),
        ..Default::default()
    };
    let mut d = Daemon::start_with("svc-down", down);
    let r = d.get_open("/monitor/service/dns");
    assert_eq!(
        (r.status, r.json()),
        (
            500,
            json!({"monitor": {"service": {"dns": "FAIL, not running"}}})
        )
    );
}

#[test]
fn a_reload_within_the_cooldown_names_the_pending_one_or_answers_204() {
    let mut d = Daemon::start_with(
        "svc-cooldown",
        Options {
            ini: "[SERVICES]\nCOOLDOWN = 30s\n".into(),
            ..Default::default()
        },
    );
    let r = d.get("/service/dhcp/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json()["request_id"].as_str().unwrap().to_string();
    // Still queued (regenerations wait for a quiet moment): the same request.
    let r = d.get("/service/dhcp/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["request_id"], json!(first), "{}", r.text());
    assert!(r.message().contains("already queued"), "{}", r.text());
    let mut messages = String::new();
    let ended = crate::util::wait_until(Duration::from_secs(10), || {
        let s = d.get(&format!("/service/status/{first}"));
        if s.status == 200 {
            messages.push_str(s.json()["message"].as_str().unwrap_or(""));
        }
        messages.contains("configuration")
    });
    assert!(ended, "{messages}");
    // Done, and still within the cooldown: nothing to do, nothing to poll.
    assert_eq!(d.get("/service/dhcp/reload").status, 204);
}
