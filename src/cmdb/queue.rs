//! The job queue's rows: what asynchronous work is waiting, running or done.
//!
//! A job is a row (`queued` → `running` → `done` | `failed`) written in the
//! same transaction as the request that asked for it, so an acknowledged job
//! survives a kill -9. The runner (`src/jobs/`) claims rows one at a time.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};

use super::Error;

/// One job as the runner sees it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub request_id: String,
    pub initiator: String,
    pub subsystem: String,
    pub task: String,
    /// The task's parameters, as JSON.
    pub param: String,
}

/// What `add` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// A new job under this request id.
    Queued(String),
    /// The same task was already waiting: its request id.
    Already(String),
}

impl Added {
    pub fn request_id(&self) -> &str {
        match self {
            Added::Queued(id) | Added::Already(id) => id,
        }
    }
}

/// Queues `subsystem`/`task` with `param` on `target` under `request_id`,
/// unless the newest job waiting on that target is the same task with the
/// same parameters: then that one's request id is answered (duplicates
/// collapse; `off, on, off` stays three jobs, in order).
pub fn add(
    tx: &Transaction,
    request_id: &str,
    initiator: &str,
    subsystem: &str,
    task: &str,
    param: &str,
    target: &str,
) -> Result<Added, Error> {
    let newest: Option<(String, String, String)> = tx
        .prepare_cached(
            "SELECT request_id, task, param FROM queue WHERE status = 'queued'
               AND subsystem = ?1 AND target = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![subsystem, target], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    if let Some((id, t, p)) = newest {
        if t == task && p == param {
            return Ok(Added::Already(id));
        }
    }
    tx.prepare_cached(
        "INSERT INTO queue (request_id, username_initiator, subsystem, task, param, target)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        request_id, initiator, subsystem, task, param, target
    ])?;
    Ok(Added::Queued(request_id.to_string()))
}

/// Takes the oldest waiting job whose target no running job works on, and
/// marks it running.
pub fn claim(tx: &Transaction) -> Result<Option<Job>, Error> {
    let job = tx
        .prepare_cached(
            "UPDATE queue SET status = 'running', started = datetime('now')
             WHERE id = (SELECT q.id FROM queue q WHERE q.status = 'queued'
                           AND NOT EXISTS (SELECT 1 FROM queue r WHERE r.status = 'running'
                                             AND r.subsystem = q.subsystem AND r.target = q.target)
                         ORDER BY q.id LIMIT 1)
             RETURNING id, request_id, username_initiator, subsystem, task, param",
        )?
        .query_row([], |r| {
            Ok(Job {
                id: r.get(0)?,
                request_id: r.get(1)?,
                initiator: r.get(2)?,
                subsystem: r.get(3)?,
                task: r.get(4)?,
                param: r.get(5)?,
            })
        })
        .optional()?;
    Ok(job)
}

/// Ends job `id`: `done` when it succeeded, else `failed`.
pub fn finish(tx: &Transaction, id: i64, ok: bool) -> Result<(), Error> {
    tx.prepare_cached("UPDATE queue SET status = ?2, finished = datetime('now') WHERE id = ?1")?
        .execute(params![id, if ok { "done" } else { "failed" }])?;
    Ok(())
}

/// At start: jobs that were running when the daemon stopped are failed (a
/// half-done power sequence or copy is not safely repeated behind the admin's
/// back), each with a message for its requester. Answers their request ids.
pub fn fail_interrupted(tx: &Transaction) -> Result<Vec<String>, Error> {
    let ids: Vec<(String, String, String)> = tx
        .prepare(
            "UPDATE queue SET status = 'failed', finished = datetime('now')
             WHERE status = 'running' RETURNING request_id, task, username_initiator",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (request_id, task, initiator) in &ids {
        super::status::add_by(
            tx,
            request_id,
            initiator,
            500,
            &format!("{task}: interrupted, luna2d stopped while it ran; not repeated, ask again"),
        )?;
    }
    Ok(ids.into_iter().map(|(id, _, _)| id).collect())
}

/// Whether a job of `request_id` has not ended yet.
pub fn pending(tx: &Transaction, request_id: &str) -> Result<bool, Error> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM queue WHERE request_id = ?1 AND status IN ('queued', 'running') LIMIT 1",
        )?
        .query_row([request_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// What the (first) job of `request_id` does, as `/monitor/queue` says it:
/// `osimage pack compute`.
pub fn describe(tx: &Transaction, request_id: &str) -> Result<Option<String>, Error> {
    Ok(tx
        .prepare_cached(
            "SELECT subsystem, task, param FROM queue WHERE request_id = ?1 ORDER BY id LIMIT 1",
        )?
        .query_row([request_id], |r| {
            let (subsystem, task, param): (String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(format!("{subsystem} {}", task_label(&task, &param)))
        })
        .optional()?)
}

/// The task of the (first) job of `request_id`.
pub fn task(tx: &Transaction, request_id: &str) -> Result<Option<String>, Error> {
    Ok(tx
        .prepare_cached("SELECT task FROM queue WHERE request_id = ?1 ORDER BY id LIMIT 1")?
        .query_row([request_id], |r| r.get(0))
        .optional()?)
}

/// Whether any job was ever queued under `request_id` (and not yet purged).
pub fn known(tx: &Transaction, request_id: &str) -> Result<bool, Error> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM queue WHERE request_id = ?1 LIMIT 1")?
        .query_row([request_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The jobs waiting or running, oldest first, as `/monitor/queue` lists them.
/// Finished jobs are not listed (the index on status keeps this independent
/// of how many there are).
pub fn pending_list(tx: &Transaction) -> Result<Vec<Value>, Error> {
    let rows = tx
        .prepare_cached(
            "SELECT id, level, request_id, username_initiator, created, subsystem, task, param, status
             FROM queue WHERE status IN ('queued', 'running') ORDER BY id",
        )?
        .query_map([], |r| {
            let task: String = r.get(6)?;
            let param: String = r.get(7)?;
            Ok(json!({
                "level": r.get::<_, String>(1)?,
                "queue_id": r.get::<_, i64>(0)?,
                "request_id": r.get::<_, String>(2)?,
                "username_initiator": r.get::<_, String>(3)?,
                "created": r.get::<_, String>(4)?,
                "subsystem": r.get::<_, String>(5)?,
                "task": task_label(&task, &param),
                "status": r.get::<_, String>(8)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The task with its main parameter appended, as upstream lists it
/// (`power on node[001-004]`).
pub fn task_label(task: &str, param: &str) -> String {
    let target = serde_json::from_str::<Value>(param)
        .ok()
        .and_then(|p| p.get("label").and_then(Value::as_str).map(str::to_string));
    match target {
        Some(t) if !t.is_empty() => format!("{task} {t}"),
        _ => task.to_string(),
    }
}

/// How many jobs wait and how many run.
pub fn counts(tx: &Transaction) -> Result<(i64, i64), Error> {
    Ok(tx
        .prepare_cached(
            "SELECT COALESCE(SUM(status = 'queued'), 0), COALESCE(SUM(status = 'running'), 0)
             FROM queue WHERE status IN ('queued', 'running')",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Removes finished jobs that ended more than `hours` ago.
pub fn purge_finished(tx: &Transaction, hours: u32) -> Result<usize, Error> {
    Ok(tx.execute(
        "DELETE FROM queue WHERE status IN ('done', 'failed')
           AND finished < datetime('now', ?1)",
        [format!("-{hours} hours")],
    )?)
}
