//! Redfish over HTTPS, through `curl`. Credentials reach curl on its standard
//! input as a config (`-K -`), never on the command line; the certificate is
//! checked against `[BMCCONTROL] REDFISH_CA_FILE` or the system's store, or not
//! at all when `REDFISH_VERIFY_CERT = no`.

use serde_json::{json, Value};

use super::{first_line, Action, Outcome, Settings};
use crate::cmdb::control::Bmc;
use crate::services::Cmd;

/// The HTTPS port when the BMC setup names none.
const PORT: u16 = 443;

/// A Redfish reply: HTTP status and parsed body (null when empty or not JSON).
struct Answer {
    status: u16,
    body: Value,
}

fn base(bmc: &Bmc) -> String {
    let host = if bmc.address.contains(':') {
        format!("[{}]", bmc.address)
    } else {
        bmc.address.clone()
    };
    format!("https://{host}:{}", bmc.port.unwrap_or(PORT))
}

/// A curl config line's value, quoted (curl's config syntax).
fn quoted(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One request: `method` on `path` (below the BMC's base URL), with a JSON
/// body for POST and PATCH.
fn call(
    settings: &Settings,
    bmc: &Bmc,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let url = format!("{}{path}", base(bmc));
    // A proxy from the environment is for the outside world, not the BMC
    // network.
    let mut config = format!(
        "user = {}\nurl = {}\nnoproxy = \"*\"\n",
        quoted(&format!("{}:{}", bmc.username, bmc.password)),
        quoted(&url)
    );
    if let Some(body) = body {
        config.push_str(&format!("data = {}\n", quoted(&body.to_string())));
        config.push_str("header = \"Content-Type: application/json\"\n");
    }
    let max_time = settings.timeout.as_secs().max(1).to_string();
    let mut args: Vec<&str> = vec![
        "-sS",
        "-K",
        "-",
        "-X",
        method,
        "--max-time",
        &max_time,
        "--proto",
        "=https",
        "-w",
        "\n%{http_code}",
    ];
    let ca;
    if !settings.verify_cert {
        args.push("--insecure");
    } else if let Some(file) = &settings.ca_file {
        ca = file.display().to_string();
        args.extend(["--cacert", &ca]);
    }
    let out = Cmd::new("curl")
        .args(args)
        .input(&config)
        .limit(settings.timeout + std::time::Duration::from_secs(2))
        .run()?;
    if out.code != 0 {
        return Err(format!(
            "curl exited {}: {}",
            out.code,
            first_line(&out.stderr)
        ));
    }
    let (text, code) = out
        .stdout
        .rsplit_once('\n')
        .ok_or_else(|| "curl printed no status".to_string())?;
    let status: u16 = code
        .trim()
        .parse()
        .map_err(|_| format!("curl printed no status: {}", first_line(code)))?;
    let body = serde_json::from_str(text).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

/// The Redfish error message of a refused request, or its status.
fn refusal(what: &str, a: &Answer) -> String {
    let msg = a
        .body
        .pointer("/error/@Message.ExtendedInfo/0/Message")
        .or_else(|| a.body.pointer("/error/message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{what}: HTTP {} {msg}", a.status)
        .trim_end()
        .to_string()
}

/// The path of the BMC's (first) computer system.
fn system(settings: &Settings, bmc: &Bmc) -> Result<String, String> {
    let a = call(settings, bmc, "GET", "/redfish/v1/Systems", None)?;
    if a.status != 200 {
        return Err(refusal("listing the systems", &a));
    }
    a.body
        .pointer("/Members/0/@odata.id")
        .and_then(Value::as_str)
        .map(|p| p.trim_end_matches('/').to_string())
        .ok_or_else(|| "the BMC lists no computer system".to_string())
}

fn reset(settings: &Settings, bmc: &Bmc, sys: &str, kind: &str) -> Result<(), String> {
    let a = call(
        settings,
        bmc,
        "POST",
        &format!("{sys}/Actions/ComputerSystem.Reset"),
        Some(&json!({ "ResetType": kind })),
    )?;
    if (200..300).contains(&a.status) {
        Ok(())
    } else {
        Err(refusal(&format!("reset {kind}"), &a))
    }
}

fn patch(settings: &Settings, bmc: &Bmc, path: &str, body: &Value) -> Result<(), String> {
    let a = call(settings, bmc, "PATCH", path, Some(body))?;
    if (200..300).contains(&a.status) {
        Ok(())
    } else {
        Err(refusal(&format!("PATCH {path}"), &a))
    }
}

fn power_state(settings: &Settings, bmc: &Bmc, sys: &str) -> Result<Outcome, String> {
    let a = call(settings, bmc, "GET", sys, None)?;
    if a.status != 200 {
        return Err(refusal("reading the system", &a));
    }
    Ok(match a.body.get("PowerState").and_then(Value::as_str) {
        Some("On") => Outcome::On,
        Some("Off") => Outcome::Off,
        Some(other) => Outcome::Ok(format!("power state {other}")),
        None => return Err("the system reports no PowerState".into()),
    })
}

/// The first log service of the system, for SEL list and clear.
fn log_service(settings: &Settings, bmc: &Bmc, sys: &str) -> Result<String, String> {
    let a = call(settings, bmc, "GET", &format!("{sys}/LogServices"), None)?;
    if a.status != 200 {
        return Err(refusal("the BMC offers no log service", &a));
    }
    a.body
        .pointer("/Members/0/@odata.id")
        .and_then(Value::as_str)
        .map(|p| p.trim_end_matches('/').to_string())
        .ok_or_else(|| "the BMC lists no log service".to_string())
}

fn act(settings: &Settings, bmc: &Bmc, action: Action) -> Result<Outcome, String> {
    let sys = system(settings, bmc)?;
    match action {
        Action::Status => power_state(settings, bmc, &sys),
        Action::On => reset(settings, bmc, &sys, "On").map(|_| Outcome::On),
        Action::Off => reset(settings, bmc, &sys, "ForceOff").map(|_| Outcome::Off),
        Action::Reset => {
            reset(settings, bmc, &sys, "ForceRestart").map(|_| Outcome::Ok("power reset".into()))
        }
        // Not every BMC implements PowerCycle: off then on is the same.
        Action::Cycle => reset(settings, bmc, &sys, "PowerCycle")
            .or_else(|_| {
                reset(settings, bmc, &sys, "ForceOff")?;
                reset(settings, bmc, &sys, "On")
            })
            .map(|_| Outcome::Ok("power cycle".into())),
        Action::Identify => patch(settings, bmc, &sys, &json!({ "IndicatorLED": "Blinking" }))
            .map(|_| Outcome::Ok("chassis identify".into())),
        Action::NoIdentify => patch(settings, bmc, &sys, &json!({ "IndicatorLED": "Off" }))
            .map(|_| Outcome::Ok("chassis noidentify".into())),
        Action::SelList => {
            let log = log_service(settings, bmc, &sys)?;
            let a = call(settings, bmc, "GET", &format!("{log}/Entries"), None)?;
            if a.status != 200 {
                return Err(refusal("reading the log", &a));
            }
            let lines: Vec<String> = a
                .body
                .get("Members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| {
                    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                    format!(
                        "{} | {} | {}",
                        field("Created"),
                        field("Severity"),
                        field("Message")
                    )
                })
                .collect();
            Ok(Outcome::Ok(lines.join("\n")))
        }
        Action::SelClear => {
            let log = log_service(settings, bmc, &sys)?;
            let a = call(
                settings,
                bmc,
                "POST",
                &format!("{log}/Actions/LogService.ClearLog"),
                Some(&json!({})),
            )?;
            if (200..300).contains(&a.status) {
                Ok(Outcome::Ok("sel clear".into()))
            } else {
                Err(refusal("clearing the log", &a))
            }
        }
    }
}

pub fn run(settings: &Settings, bmc: &Bmc, action: Action) -> Outcome {
    act(settings, bmc, action).unwrap_or_else(Outcome::Failed)
}

/// Sets properties of the BMC's computer system (`PATCH`), e.g. the boot
/// source override under `Boot`.
pub fn setting(settings: &Settings, bmc: &Bmc, properties: &Value) -> Result<String, String> {
    let sys = system(settings, bmc)?;
    patch(settings, bmc, &sys, properties)?;
    Ok(format!("{sys} updated"))
}

/// Uploads a JSON document to `path` below the computer system (`PATCH`):
/// `Bios/Settings` by default.
pub fn upload(
    settings: &Settings,
    bmc: &Bmc,
    path: Option<&str>,
    document: &Value,
) -> Result<String, String> {
    let sys = system(settings, bmc)?;
    let below = path.unwrap_or("Bios/Settings").trim_start_matches('/');
    let ok = !below.is_empty()
        && below.split('/').all(|s| {
            !s.is_empty()
                && s != ".."
                && s != "."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        });
    if !ok {
        return Err(format!("invalid Redfish path '{below}'"));
    }
    let target = format!("{sys}/{below}");
    patch(settings, bmc, &target, document)?;
    Ok(format!("{target} updated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("x\ny"), r#""x\ny""#);
    }
}
