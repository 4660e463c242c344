//! IPMI over LAN: `ipmitool -I lanplus`. The password goes in through the
//! environment (`-E` reads `IPMI_PASSWORD`), never on the command line.

use super::{first_line, Action, Outcome, Settings};
use crate::cmdb::control::Bmc;
use crate::services::Cmd;

/// The IPMI port when the BMC setup names none.
const PORT: u16 = 623;

/// ipmitool's own arguments for `action`.
fn verb(action: Action) -> &'static [&'static str] {
    match action {
        Action::On => &["chassis", "power", "on"],
        Action::Off => &["chassis", "power", "off"],
        Action::Reset => &["chassis", "power", "reset"],
        Action::Cycle => &["chassis", "power", "cycle"],
        Action::Status => &["chassis", "power", "status"],
        Action::Identify => &["chassis", "identify"],
        // `chassis noidentify` is no ipmitool verb: an interval of 0 turns
        // the light off.
        Action::NoIdentify => &["chassis", "identify", "0"],
        // `elist` resolves sensor names through the SDR, which costs a round
        // trip per entry and prints SDR complaints among the entries.
        Action::SelList => &["sel", "list"],
        Action::SelClear => &["sel", "clear"],
    }
}

/// The whole argument vector (without the password).
pub fn argv(settings: &Settings, bmc: &Bmc, action: Action) -> Vec<String> {
    // Retries and their interval fit the time limit: a BMC that does not
    // answer is reported as such rather than killed mid-way. ipmitool spends
    // about 2 x interval x (retries + 1) on a silent BMC.
    let retries = 2u64;
    let interval = (settings.timeout.as_secs() / (2 * (retries + 1))).max(1);
    let mut args: Vec<String> = [
        "-I",
        "lanplus",
        "-H",
        &bmc.address,
        "-p",
        &bmc.port.unwrap_or(PORT).to_string(),
        "-U",
        &bmc.username,
        "-E",
        // A fixed cipher suite (upstream's 3: HMAC-SHA1, AES-CBC-128) spares
        // the cipher-suite discovery many BMCs answer slowly or not at all.
        "-C",
        &settings.ipmi_cipher_suite.to_string(),
        "-N",
        &interval.to_string(),
        "-R",
        &retries.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(verb(action).iter().map(|s| s.to_string()));
    args
}

pub fn run(settings: &Settings, bmc: &Bmc, action: Action) -> Outcome {
    let args = argv(settings, bmc, action);
    let out = Cmd::new("ipmitool")
        .args(args.iter().map(String::as_str))
        .env("IPMI_PASSWORD", &bmc.password)
        .limit(settings.timeout + std::time::Duration::from_secs(2))
        .run();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.contains("did not finish") => {
            return Outcome::Failed(format!(
                "no answer from the BMC at {} within {}s",
                bmc.address,
                settings.timeout.as_secs()
            ))
        }
        Err(e) => return Outcome::Failed(e),
    };
    if out.code != 0 {
        return Outcome::Failed(format!(
            "BMC at {}: ipmitool exited {}: {}",
            bmc.address,
            out.code,
            first_line(&out.stderr)
        ));
    }
    // Some answers ("SEL has no entries") come on standard error.
    let said = if out.stdout.trim().is_empty() {
        out.stderr
            .lines()
            .filter(|l| !l.contains("Cipher Suites"))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        out.stdout
    };
    interpret(action, &said)
}

/// What ipmitool's output means for `action`.
fn interpret(action: Action, stdout: &str) -> Outcome {
    match action {
        Action::Status => {
            let said = stdout.to_ascii_lowercase();
            if said.contains("power is on") {
                Outcome::On
            } else if said.contains("power is off") {
                Outcome::Off
            } else {
                Outcome::Failed(format!(
                    "unexpected answer to power status: {}",
                    first_line(stdout)
                ))
            }
        }
        Action::On => Outcome::On,
        Action::Off => Outcome::Off,
        Action::SelList => Outcome::Ok(stdout.trim_end().to_string()),
        _ => {
            let said = stdout.trim();
            Outcome::Ok(if said.is_empty() {
                action.name().to_string()
            } else {
                first_line(said)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdb::control::Protocol;

    #[test]
    fn password_stays_off_the_command_line() {
        let bmc = Bmc {
            node: "n1".into(),
            address: "127.0.0.9".into(),
            port: Some(9623),
            protocol: Protocol::Ipmi,
            username: "admin".into(),
            password: "s3cret-word".into(),
        };
        let settings = Settings {
            timeout: std::time::Duration::from_secs(9),
            batch_size: 1,
            batch_delay: std::time::Duration::ZERO,
            verify_cert: true,
            ca_file: None,
            ipmi_cipher_suite: 3,
        };
        let args = argv(&settings, &bmc, Action::NoIdentify);
        assert!(args.iter().all(|a| !a.contains("s3cret")), "{args:?}");
        assert!(args.contains(&"-E".to_string()));
        assert_eq!(args[args.len() - 3..], ["chassis", "identify", "0"]);
        assert!(args.windows(2).any(|w| w == ["-p", "9623"]));
    }

    #[test]
    fn answers() {
        assert_eq!(
            interpret(Action::Status, "Chassis Power is on\n"),
            Outcome::On
        );
        assert_eq!(
            interpret(Action::Status, "Chassis Power is off\n"),
            Outcome::Off
        );
        assert!(matches!(
            interpret(Action::Status, "garbage"),
            Outcome::Failed(_)
        ));
        assert_eq!(
            interpret(
                Action::Identify,
                "Chassis identify interval: default (15 seconds)\n"
            ),
            Outcome::Ok("Chassis identify interval: default (15 seconds)".into())
        );
    }
}
