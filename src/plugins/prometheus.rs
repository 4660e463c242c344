//! Prometheus: the cluster's metrics in the text exposition format
//! (`GET /export/prometheus`), and alert rules (`POST /import/prometheus`)
//! written to `[PLUGINS] PROMETHEUS_RULES` once `promtool check rules`
//! accepted them, so a broken file never replaces a working one.

use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::{Exported, Exporter, Importer, Refused, Source};
use crate::cmdb;
use crate::config::Config;

pub struct Metrics;

/// A label value, escaped as the exposition format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Exporter for Metrics {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn export(&self, src: &Source, _query: &str) -> Result<Exported, String> {
        let mut out = String::with_capacity(64 * 1024);
        let states = cmdb::monitor::states(src.store).map_err(|e| e.to_string())?;
        let _ = writeln!(
            out,
            "# HELP luna_node_state The node's current state (the value is always 1).\n\
             # TYPE luna_node_state gauge"
        );
        for (node, state) in &states {
            let _ = writeln!(
                out,
                "luna_node_state{{node=\"{}\",state=\"{}\"}} 1",
                label(node),
                label(state)
            );
        }
        let _ = writeln!(
            out,
            "# HELP luna_node_failing 1 when the node's state is a failure.\n\
             # TYPE luna_node_failing gauge"
        );
        for (node, state) in &states {
            let failing = u8::from(cmdb::monitor::failing(state));
            let _ = writeln!(
                out,
                "luna_node_failing{{node=\"{}\"}} {failing}",
                label(node)
            );
        }
        let _ = writeln!(
            out,
            "# HELP luna_service_up 1 when the service's last generated configuration was installed.\n\
             # TYPE luna_service_up gauge"
        );
        for (service, up) in &src.services {
            let _ = writeln!(
                out,
                "luna_service_up{{service=\"{service}\"}} {}",
                u8::from(*up)
            );
        }
        let (queued, running) = cmdb::queue::counts(src.store.tx).map_err(|e| e.to_string())?;
        let _ = writeln!(
            out,
            "# HELP luna_queue_jobs Jobs in the queue, by status.\n\
             # TYPE luna_queue_jobs gauge\n\
             luna_queue_jobs{{status=\"queued\"}} {queued}\n\
             luna_queue_jobs{{status=\"running\"}} {running}"
        );
        src.metrics.render(&mut out);
        Ok(Exported {
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: out.into_bytes(),
        })
    }
}

pub struct Rules;

/// The keys a Prometheus rule may have.
const RULE_KEYS: &[&str] = &[
    "alert",
    "record",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

/// `{"rules": [...]}` (one group named `luna`) or `{"groups": [...]}`, checked
/// for shape; returns the rule file's content (JSON, which YAML reads).
fn rule_file(body: &[u8]) -> Result<(Value, usize), Refused> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Refused::Invalid(format!("the rules must be JSON: {e}")))?;
    let groups = match (v.get("groups"), v.get("rules")) {
        (Some(Value::Array(g)), None) => g.clone(),
        (None, Some(Value::Array(r))) => vec![json!({ "name": "luna", "rules": r })],
        _ => {
            return Err(Refused::Invalid(
                "expected {\"rules\": [...]} or {\"groups\": [...]}".into(),
            ))
        }
    };
    let mut count = 0;
    for group in &groups {
        let g = group
            .as_object()
            .ok_or_else(|| Refused::Invalid("each group must be an object".into()))?;
        if !g.get("name").is_some_and(Value::is_string) {
            return Err(Refused::Invalid("each group needs a name".into()));
        }
        let rules = g
            .get("rules")
            .and_then(Value::as_array)
            .ok_or_else(|| Refused::Invalid("each group needs a list of rules".into()))?;
        for rule in rules {
            let r: &Map<String, Value> = rule
                .as_object()
                .ok_or_else(|| Refused::Invalid("each rule must be an object".into()))?;
            if let Some(k) = r.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
                return Err(Refused::Invalid(format!("unknown rule field '{k}'")));
            }
            let named = r.get("alert").or_else(|| r.get("record"));
            if !named.is_some_and(Value::is_string) || !r.get("expr").is_some_and(Value::is_string)
            {
                return Err(Refused::Invalid(
                    "each rule needs 'alert' or 'record', and 'expr'".into(),
                ));
            }
            count += 1;
        }
    }
    if count == 0 {
        return Err(Refused::Invalid("no rules".into()));
    }
    Ok((json!({ "groups": groups }), count))
}

impl Importer for Rules {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn import(&self, cfg: &Config, body: &[u8]) -> Result<Value, Refused> {
        let (file, count) = rule_file(body)?;
        let target = &cfg.prometheus_rules;
        let dir = target
            .parent()
            .ok_or_else(|| Refused::Failed(format!("{}: no directory", target.display())))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Refused::Failed(format!("{}: {e}", dir.display())))?;
        let staged = dir.join(".luna2d-rules-new.yml");
        let text =
            serde_json::to_string_pretty(&file).map_err(|e| Refused::Failed(e.to_string()))?;
        std::fs::write(&staged, text + "\n")
            .map_err(|e| Refused::Failed(format!("{}: {e}", staged.display())))?;
        if !cfg.promtool.is_empty() {
            let staged_s = staged.display().to_string();
            let checked = crate::services::Cmd::new(&cfg.promtool)
                .args(["check", "rules", staged_s.as_str()])
                .run();
            let refusal = match checked {
                Ok(out) if out.code == 0 => None,
                Ok(out) => Some(Refused::Invalid(format!(
                    "promtool refused the rules: {}",
                    (out.stdout + &out.stderr).trim()
                ))),
                Err(e) => Some(Refused::Failed(e)),
            };
            if let Some(r) = refusal {
                let _ = std::fs::remove_file(&staged);
                return Err(r);
            }
        }
        std::fs::rename(&staged, target)
            .map_err(|e| Refused::Failed(format!("{}: {e}", target.display())))?;
        Ok(json!({
            "message": format!("{count} rules written to {}", target.display()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_for_shape() {
        let ok = br#"{"rules": [{"alert": "NodeDown", "expr": "up == 0", "for": "5m"}]}"#;
        let (file, n) = rule_file(ok).ok().unwrap();
        assert_eq!(n, 1);
        assert_eq!(file["groups"][0]["name"], "luna");
        for bad in [
            &br#"{"rules": [{"expr": "up == 0"}]}"#[..],
            br#"{"rules": [{"alert": "A", "expr": "x", "bogus": 1}]}"#,
            br#"{"rules": []}"#,
            br#"[1]"#,
            b"not json",
        ] {
            assert!(rule_file(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
