//! The daemon's own request counts and latencies, per route class (the
//! first segment of the route: `boot`, `config`, `files`, `control`, ...),
//! kept in atomics by the dispatcher and rendered for Prometheus.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Route classes, by the route pattern's first segment; anything else is
/// `other` (the set is fixed, so label cardinality is bounded).
pub const CLASSES: [&str; 12] = [
    "boot", "files", "config", "control", "monitor", "service", "announce", "scrape", "table",
    "token", "tpm", "other",
];

#[derive(Default)]
struct Class {
    requests: AtomicU64,
    errors: AtomicU64,
    micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// A counter rendered per class: name, help, and where it is kept.
type Counter = (&'static str, &'static str, fn(&Class) -> &AtomicU64);

#[derive(Default)]
pub struct Metrics {
    classes: [Class; CLASSES.len()],
}

/// The class of a route pattern such as `/config/node/{}`.
pub fn class_of(pattern: &str) -> usize {
    let first = pattern
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    CLASSES
        .iter()
        .position(|c| *c == first)
        .unwrap_or(CLASSES.len() - 1)
}

impl Metrics {
    /// Counts one request of class `class` that answered `status` after `took`.
    pub fn observe(&self, class: usize, status: u16, took: Duration) {
        let Some(c) = self.classes.get(class) else {
            return;
        };
        c.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        c.micros.fetch_add(
            took.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            c.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text of the request metrics.
    pub fn render(&self, out: &mut String) {
        let counters: [Counter; 2] = [
            (
                "luna_http_requests_total",
                "Requests answered, by route class.",
                |c| &c.requests,
            ),
            (
                "luna_http_errors_total",
                "Requests answered with a 5xx status, by route class.",
                |c| &c.errors,
            ),
        ];
        for (metric, help, field) in counters {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for (name, c) in CLASSES.iter().zip(&self.classes) {
                let _ = writeln!(
                    out,
                    "{metric}{{class=\"{name}\"}} {}",
                    field(c).load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP luna_http_request_duration_seconds Time from a whole request to its reply, by route class.\n\
             # TYPE luna_http_request_duration_seconds histogram"
        );
        for (name, c) in CLASSES.iter().zip(&self.classes) {
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&c.buckets) {
                cumulative += count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "luna_http_request_duration_seconds_bucket{{class=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let total = c.requests.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "luna_http_request_duration_seconds_bucket{{class=\"{name}\",le=\"+Inf\"}} {total}\n\
                 luna_http_request_duration_seconds_sum{{class=\"{name}\"}} {}\n\
                 luna_http_request_duration_seconds_count{{class=\"{name}\"}} {total}",
                c.micros.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_buckets() {
        assert_eq!(CLASSES[class_of("/boot/search/mac/{}")], "boot");
        assert_eq!(CLASSES[class_of("/config/node/{}")], "config");
        assert_eq!(CLASSES[class_of("/weird")], "other");
        let m = Metrics::default();
        m.observe(class_of("/boot"), 200, Duration::from_micros(700));
        m.observe(class_of("/boot"), 503, Duration::from_secs(9));
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("luna_http_requests_total{class=\"boot\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("luna_http_errors_total{class=\"boot\"} 1"),
            "{out}"
        );
        assert!(
            out.contains(
                "luna_http_request_duration_seconds_bucket{class=\"boot\",le=\"0.001\"} 1"
            ),
            "{out}"
        );
        assert!(
            out.contains("luna_http_request_duration_seconds_bucket{class=\"boot\",le=\"+Inf\"} 2"),
            "{out}"
        );
    }
}
