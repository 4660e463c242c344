//! Control jobs: a power, chassis or SEL action over a list of nodes, in
//! batches (`power::run_batches`), and Redfish settings and uploads for one
//! node. Each node's outcome is recorded under the job's request id as its
//! batch ends, one transaction per batch.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{read, write, Finish, Run};
use crate::cmdb::control::Protocol;
use crate::cmdb::{self, Store};
use crate::power::{self, Action, Outcome, Settings};

/// What a control job was asked, as stored in its row.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Params {
    pub command: String,
    pub action: String,
    pub nodes: Vec<String>,
    /// The hostlist as asked (for `/monitor/queue`).
    pub label: String,
    /// For Redfish `setting` and `upload`: the document to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// For Redfish `upload`: where below the system it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Params {
    /// The task name a job of these parameters has: `power on`.
    pub fn task(&self) -> String {
        format!("{} {}", self.command, self.action)
    }
}

pub fn run(run: &mut Run) -> Result<Finish, String> {
    let params: Params =
        serde_json::from_str(&run.job.param).map_err(|e| format!("unreadable parameters: {e}"))?;
    let settings = Settings::from_config(run.app.config());
    let targets = read(run.app, run.db, |store| {
        cmdb::control::targets(store, &params.nodes)
    })
    .map_err(|e| e.to_string())?;
    if params.command == "redfish" {
        return redfish(run, &settings, &params, targets).map(Finish::message);
    }
    let action = Action::parse(&params.command, &params.action)
        .ok_or_else(|| format!("unknown action '{}'", params.task()))?;
    run.message(
        200,
        &format!(
            "{} for {} ({} nodes, {} at a time)",
            params.task(),
            params.label,
            params.nodes.len(),
            settings.batch_size
        ),
    );
    let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let (app, job) = (run.app, run.job);
    let db = &mut *run.db;
    power::run_batches(&settings, targets, action, &mut |batch| {
        for (_, outcome) in batch {
            *counts.entry(outcome.bucket()).or_default() += 1;
        }
        let recorded = write(app, db, |store| record(store, job, Some(action), batch));
        if let Err(e) = recorded {
            log::error!("job {}: cannot record outcomes: {e}", job.request_id);
        }
    });
    let summary: Vec<String> = counts.iter().map(|(b, n)| format!("{n} {b}")).collect();
    if counts.keys().all(|b| *b == "failed") && !counts.is_empty() {
        return Err(summary.join(", "));
    }
    Ok(Finish::message(summary.join(", ")))
}

/// Records a batch's outcomes, and the power state of nodes switched on or off.
fn record(
    store: &Store,
    job: &cmdb::queue::Job,
    action: Option<Action>,
    batch: &[(String, Outcome)],
) -> Result<(), cmdb::Error> {
    let mut states = Vec::new();
    for (node, outcome) in batch {
        cmdb::status::add_outcome(
            store.tx,
            &job.request_id,
            &job.initiator,
            node,
            outcome.bucket(),
            outcome.message(),
        )?;
        let switched = match action {
            Some(a @ (Action::On | Action::Off | Action::Reset | Action::Cycle))
                if !matches!(outcome, Outcome::Failed(_)) =>
            {
                Some(a)
            }
            _ => None,
        };
        if let Some(a) = switched {
            states.push((node.as_str(), a.name()));
        }
    }
    cmdb::monitor::set_states_by_name(store.tx, &states)
}

fn redfish(
    run: &mut Run,
    settings: &Settings,
    params: &Params,
    targets: Vec<(String, cmdb::control::Target)>,
) -> Result<String, String> {
    let (node, target) = targets
        .into_iter()
        .next()
        .ok_or_else(|| "no node given".to_string())?;
    let body = params.body.clone().unwrap_or(Value::Null);
    let result = target.map_err(|why| why.to_string()).and_then(|bmc| {
        if bmc.protocol != Protocol::Redfish {
            return Err(format!(
                "node {node}'s BMC setup drives it over IPMI, not Redfish"
            ));
        }
        match params.action.as_str() {
            "setting" => power::redfish::setting(settings, &bmc, &body),
            "upload" => power::redfish::upload(settings, &bmc, params.path.as_deref(), &body),
            other => Err(format!("unknown Redfish action '{other}'")),
        }
    });
    let outcome = match &result {
        Ok(m) => Outcome::Ok(m.clone()),
        Err(e) => Outcome::Failed(e.clone()),
    };
    let job = run.job;
    let batch = [(node, outcome)];
    write(run.app, run.db, |store| record(store, job, None, &batch)).map_err(|e| e.to_string())?;
    result
}
