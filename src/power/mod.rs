//! Driving BMCs: one action on one node's BMC over IPMI (`ipmitool -I
//! lanplus`, `ipmi.rs`) or Redfish (`curl` over HTTPS, `redfish.rs`), and a
//! hostlist in batches. The model (`cmdb::control`) says which BMC and which
//! credentials; nothing here reads the database or knows HTTP.

pub mod ipmi;
pub mod redfish;

use std::time::Duration;

use crate::cmdb::control::{Bmc, Protocol, Target};
use crate::config::Config;

/// What can be asked of a BMC: `{command} {action}` in the API's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    On,
    Off,
    Reset,
    Cycle,
    Status,
    Identify,
    NoIdentify,
    SelList,
    SelClear,
}

impl Action {
    /// `power on`, `chassis identify`, `sel list`, ... (identify and
    /// noidentify are accepted under `power` too, as the spec lists them).
    pub fn parse(command: &str, action: &str) -> Option<Action> {
        Some(match (command, action) {
            ("power", "on") => Action::On,
            ("power", "off") => Action::Off,
            ("power", "reset") => Action::Reset,
            ("power", "cycle") => Action::Cycle,
            ("power", "status") => Action::Status,
            ("chassis" | "power", "identify") => Action::Identify,
            ("chassis" | "power", "noidentify") => Action::NoIdentify,
            ("sel", "list") => Action::SelList,
            ("sel", "clear") => Action::SelClear,
            _ => return None,
        })
    }

    /// What the API calls each, for messages and refusals.
    pub const ALL: &'static str =
        "power on|off|reset|cycle|status, chassis identify|noidentify, sel list|clear";

    pub fn name(self) -> &'static str {
        match self {
            Action::On => "power on",
            Action::Off => "power off",
            Action::Reset => "power reset",
            Action::Cycle => "power cycle",
            Action::Status => "power status",
            Action::Identify => "chassis identify",
            Action::NoIdentify => "chassis noidentify",
            Action::SelList => "sel list",
            Action::SelClear => "sel clear",
        }
    }

    /// Whether the action answers something to show (status, a log).
    pub fn reads(self) -> bool {
        matches!(self, Action::Status | Action::SelList)
    }
}

/// How one node's action ended, as the API groups nodes: `on`/`off` (power
/// state now, for status, on and off), `ok` (done, with what the BMC said),
/// `failed` (why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    On,
    Off,
    Ok(String),
    Failed(String),
}

impl Outcome {
    pub fn bucket(&self) -> &'static str {
        match self {
            Outcome::On => "on",
            Outcome::Off => "off",
            Outcome::Ok(_) => "ok",
            Outcome::Failed(_) => "failed",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Outcome::On => "on",
            Outcome::Off => "off",
            Outcome::Ok(m) | Outcome::Failed(m) => m,
        }
    }
}

/// A node and how its action ended.
pub type NodeOutcome = (String, Outcome);

/// The settings BMC commands run with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub timeout: Duration,
    pub batch_size: usize,
    pub batch_delay: Duration,
    pub verify_cert: bool,
    pub ca_file: Option<std::path::PathBuf>,
    pub ipmi_cipher_suite: u8,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Settings {
        Settings {
            timeout: cfg.bmc_timeout,
            batch_size: cfg.bmc_batch_size.max(1),
            batch_delay: cfg.bmc_batch_delay,
            verify_cert: cfg.redfish_verify_cert,
            ca_file: cfg.redfish_ca_file.clone(),
            ipmi_cipher_suite: cfg.ipmi_cipher_suite,
        }
    }
}

/// Runs `action` on one BMC.
pub fn run(settings: &Settings, bmc: &Bmc, action: Action) -> Outcome {
    match bmc.protocol {
        Protocol::Ipmi => ipmi::run(settings, bmc, action),
        Protocol::Redfish => redfish::run(settings, bmc, action),
    }
}

/// Runs `action` on every target, `batch_size` BMCs at a time with
/// `batch_delay` between batches; `report` gets each batch's outcomes as the
/// batch ends. Targets that cannot be driven are reported failed first.
pub fn run_batches(
    settings: &Settings,
    targets: Vec<(String, Target)>,
    action: Action,
    report: &mut dyn FnMut(&[NodeOutcome]),
) {
    let mut bmcs = Vec::new();
    let mut unusable = Vec::new();
    for (node, target) in targets {
        match target {
            Ok(bmc) => bmcs.push(bmc),
            Err(why) => unusable.push((node, Outcome::Failed(why.to_string()))),
        }
    }
    if !unusable.is_empty() {
        report(&unusable);
    }
    for (i, batch) in bmcs.chunks(settings.batch_size).enumerate() {
        if i > 0 && !settings.batch_delay.is_zero() {
            std::thread::sleep(settings.batch_delay);
        }
        let outcomes: Vec<NodeOutcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|bmc| scope.spawn(move || run(settings, bmc, action)))
                .collect();
            batch
                .iter()
                .zip(handles)
                .map(|(bmc, h)| {
                    let outcome = h
                        .join()
                        .unwrap_or_else(|_| Outcome::Failed("internal error".into()));
                    (bmc.node.clone(), outcome)
                })
                .collect()
        });
        report(&outcomes);
    }
}

/// The first line of a command's complaint, for a failure message.
fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    line.unwrap_or("no output").chars().take(300).collect()
}
