//! `GET /metrics`: the daemon's [`State`] in the Prometheus text format (version 0.0.4),
//! encoded with the official `prometheus-client` crate. Every name starts with `lad_`, says its
//! unit (`_seconds`, `_total` for counters) and takes labels only from bounded sets: the error
//! kinds the daemon counts (a fixed list of `&'static str`) and the configured (source, host)
//! pairs. Values are read from the shared state on each scrape; nothing here touches the store.
//!
//! Every counter is present from start-up: unlabelled ones at zero, `lad_anomalies_total` at
//! zero for every (source, host) with a model (bounded by [`crate::state::MAX_ANOMALY_SERIES`]),
//! the alert counters at zero for every configured receiver (`alertmanager`, `webhook`).
//! `lad_build_info` carries the version and commit; the standard `process_*` metrics are read
//! from `/proc` (`http/process.rs`).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::config::Config;
use crate::pipeline;
use crate::state::State;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every metric family lad exports (full names as they appear in the exposition), for the
/// dashboard test and the docs.
pub const METRIC_NAMES: &[&str] = &[
    "lad_lines_read_total",
    "lad_lines_scored_total",
    "lad_lines_flagged_total",
    "lad_lines_suppressed_total",
    "lad_lines_malformed_total",
    "lad_batches_total",
    "lad_errors_total",
    "lad_aggregation_runs_total",
    "lad_scoring_lag_seconds",
    "lad_store_up",
    "lad_incidents_open",
    "lad_models_loaded",
    "lad_hosts_waiting",
    "lad_model_loaded",
    "lad_training_duration_seconds",
    "lad_model_age_seconds",
    "lad_feedback_active",
    "lad_anomalies_total",
    "lad_alerts_sent_total",
    "lad_alert_failures_total",
    "lad_alerts_dropped_total",
    "lad_alert_queue_length",
    "lad_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// The commit lad was built from (see [`crate::COMMIT`]: the checkout's commit, or
/// `LAD_COMMIT` at build time, else `unknown`).
pub const BUILD_COMMIT: &str = crate::COMMIT;

/// The state and what the scrape adds from outside it.
#[derive(Debug)]
struct StateCollector {
    state: Arc<State>,
    model_base_dir: std::path::PathBuf,
    /// Active feedback marks, when the store could be asked.
    feedback_active: Option<u64>,
    now_ms: i64,
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: f64,
) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, unit, g.metric_type())?)
}

/// A gauge whose value is a count (encoded without a decimal point).
fn count_gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for StateCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.state;
        counter(
            &mut e,
            "lad_lines_read",
            "Records read from the store for scoring.",
            s.lines_read.load(Relaxed),
        )?;
        counter(
            &mut e,
            "lad_lines_scored",
            "Verdicts written.",
            s.lines_scored.load(Relaxed),
        )?;
        counter(
            &mut e,
            "lad_lines_flagged",
            "Verdicts that flagged an anomaly.",
            s.lines_flagged.load(Relaxed),
        )?;
        counter(
            &mut e,
            "lad_lines_suppressed",
            "Would-be anomalies written as normal because of \"not an anomaly\" feedback.",
            s.lines_suppressed.load(Relaxed),
        )?;
        counter(
            &mut e,
            "lad_lines_malformed",
            "Malformed records marked and skipped.",
            s.lines_malformed.load(Relaxed),
        )?;
        counter(
            &mut e,
            "lad_batches",
            "Scoring batches processed.",
            s.batches.load(Relaxed),
        )?;
        counter(
            &mut e,
            "lad_aggregation_runs",
            "Aggregation passes run.",
            s.aggregation_runs.load(Relaxed),
        )?;
        {
            let mut m = e.encode_descriptor(
                "lad_errors",
                "Errors by kind (store, retrain, ...).",
                None,
                MetricType::Counter,
            )?;
            for (kind, n) in s.errors() {
                ConstCounter::new(n).encode(m.encode_family(&[("kind", kind)])?)?;
            }
        }
        gauge(
            &mut e,
            "lad_scoring_lag",
            "Age of the oldest unscored record.",
            Some(&Unit::Seconds),
            s.lag(),
        )?;
        count_gauge(
            &mut e,
            "lad_store_up",
            "1 when the last pass reached the store, else 0.",
            u64::from(s.store_ok()),
        )?;
        count_gauge(
            &mut e,
            "lad_incidents_open",
            "Incidents not resolved (open, acknowledged or muted).",
            s.incidents_open(),
        )?;
        let hosts = s.hosts();
        count_gauge(
            &mut e,
            "lad_models_loaded",
            "(source, host) pairs with a model in use.",
            hosts.values().filter(|h| h.has_model).count() as u64,
        )?;
        count_gauge(
            &mut e,
            "lad_hosts_waiting",
            "(source, host) pairs with too little data to train: their lines wait unscored and count in lad_scoring_lag_seconds.",
            s.hosts_waiting.load(std::sync::atomic::Ordering::Relaxed),
        )?;
        {
            let mut m = e.encode_descriptor(
                "lad_model_loaded",
                "1 when the (source, host) has a model in use.",
                None,
                MetricType::Gauge,
            )?;
            for ((source, host), h) in &hosts {
                let labels = [("source", source.as_str()), ("host", host.as_str())];
                ConstGauge::new(i64::from(h.has_model)).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = e.encode_descriptor(
                "lad_training_duration",
                "How long the last training of the (source, host) took.",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?;
            for ((source, host), h) in &hosts {
                if let Some(t) = h.training_seconds {
                    let labels = [("source", source.as_str()), ("host", host.as_str())];
                    ConstGauge::new(t).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut m = e.encode_descriptor(
                "lad_model_age",
                "Time since the model in use was trained (or saved, when loaded from disk).",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?;
            for ((source, host), h) in &hosts {
                if let Some(at) = model_time_ms(h, &self.model_base_dir, source, host) {
                    let labels = [("source", source.as_str()), ("host", host.as_str())];
                    let age = (self.now_ms - at).max(0) as f64 / 1000.0;
                    ConstGauge::new(age).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        if let Some(n) = self.feedback_active {
            count_gauge(
                &mut e,
                "lad_feedback_active",
                "Active \"not an anomaly\" feedback marks.",
                n,
            )?;
        }
        encode_alerting(&mut e, s)?;
        encode_process(&mut e)?;
        Ok(())
    }
}

/// A family of per-receiver alert numbers: name, help, type, and the number it reads.
type AlertFamily = (
    &'static str,
    &'static str,
    MetricType,
    fn(&crate::alerts::AlertCounts) -> u64,
);

/// Anomalies per host, the alert receivers' counters and the build.
fn encode_alerting(e: &mut DescriptorEncoder, s: &State) -> std::fmt::Result {
    {
        let mut m = e.encode_descriptor(
            "lad_anomalies",
            "Lines flagged anomalous, per (source, host).",
            None,
            MetricType::Counter,
        )?;
        for ((source, host), n) in s.anomalies() {
            let labels = [("source", source.as_str()), ("host", host.as_str())];
            ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
        }
    }
    let alerts = s.alert_counts();
    let families: [AlertFamily; 4] = [
        (
            "lad_alerts_sent",
            "Incident notices delivered, by receiver.",
            MetricType::Counter,
            |c| c.sent,
        ),
        (
            "lad_alert_failures",
            "Failed alert requests (each retry counts), by receiver.",
            MetricType::Counter,
            |c| c.failures,
        ),
        (
            "lad_alerts_dropped",
            "Notices dropped because the receiver's queue was full.",
            MetricType::Counter,
            |c| c.dropped,
        ),
        (
            "lad_alert_queue_length",
            "Notices waiting to be delivered, by receiver.",
            MetricType::Gauge,
            |c| c.queued,
        ),
    ];
    for (name, help, kind, value) in families {
        let mut m = e.encode_descriptor(name, help, None, kind)?;
        for (receiver, c) in &alerts {
            let labels = [("receiver", *receiver)];
            match kind {
                MetricType::Counter => {
                    ConstCounter::new(value(c)).encode(m.encode_family(&labels)?)?
                }
                _ => ConstGauge::new(i64::try_from(value(c)).unwrap_or(i64::MAX))
                    .encode(m.encode_family(&labels)?)?,
            }
        }
    }
    let mut m = e.encode_descriptor(
        "lad_build_info",
        "Always 1; the labels say which lad runs.",
        None,
        MetricType::Gauge,
    )?;
    let labels = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("commit", BUILD_COMMIT),
    ];
    ConstGauge::new(1i64).encode(m.encode_family(&labels)?)
}

/// The standard process metrics, when `/proc` can be read.
fn encode_process(e: &mut DescriptorEncoder) -> std::fmt::Result {
    let Some(p) = super::process::read() else {
        return Ok(());
    };
    let c = ConstCounter::new(p.cpu_seconds);
    c.encode(e.encode_descriptor(
        "process_cpu",
        "Total user and system CPU time spent.",
        Some(&Unit::Seconds),
        c.metric_type(),
    )?)?;
    let bytes = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    let g = bytes(p.resident_bytes);
    g.encode(e.encode_descriptor(
        "process_resident_memory",
        "Resident memory size.",
        Some(&Unit::Bytes),
        g.metric_type(),
    )?)?;
    let g = bytes(p.virtual_bytes);
    g.encode(e.encode_descriptor(
        "process_virtual_memory",
        "Virtual memory size.",
        Some(&Unit::Bytes),
        g.metric_type(),
    )?)?;
    count_gauge(e, "process_open_fds", "Open file descriptors.", p.open_fds)?;
    count_gauge(
        e,
        "process_max_fds",
        "The soft limit of open file descriptors.",
        p.max_fds.unwrap_or(u64::MAX),
    )?;
    gauge(
        e,
        "process_start_time",
        "Start time of the process since the unix epoch.",
        Some(&Unit::Seconds),
        p.start_time_seconds,
    )?;
    count_gauge(e, "process_threads", "OS threads.", p.threads)
}

/// When the model of (source, host) in use was made: trained here, or the saved file's time.
pub fn model_time_ms(
    h: &crate::state::HostState,
    model_base_dir: &std::path::Path,
    source: &str,
    host: &str,
) -> Option<i64> {
    if !h.has_model {
        return None;
    }
    h.trained_at_ms.or_else(|| {
        crate::models::saved_at(model_base_dir, source, host)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
    })
}

/// The exposition text for the current state.
pub fn render(state: &Arc<State>, config: &Config, feedback_active: Option<u64>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StateCollector {
        state: Arc::clone(state),
        model_base_dir: config.model_base_dir.clone(),
        feedback_active,
        now_ms: pipeline::now_ms(),
    }));
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a name above.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::DetectStats;

    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with("# TYPE "))
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
            .collect()
    }

    #[test]
    fn exposition_holds_every_declared_family_and_the_counts() {
        let state = Arc::new(State::default());
        state.record_batch(&DetectStats {
            read: 7,
            scored: 6,
            flagged: 2,
            malformed: 1,
            batches: 1,
            suppressed: 3,
        });
        state.count_error("store");
        let key = ("syslog".to_string(), "web-1".to_string());
        state.record_training(&key, 1.5);
        let mut models = pipeline::Models::new();
        models.insert(
            key,
            Arc::new(
                lad_core::detector::HostModel::train(
                    &[
                        "a b c", "a b d", "a c d", "b c d", "x y z", "a b c", "a b c", "b b c",
                        "c c d", "d d d", "e e e",
                    ],
                    &lad_core::detector::DetectorParams {
                        lof_neighbors: 3,
                        ..Default::default()
                    },
                )
                .expect("a tiny model trains"),
            ),
        );
        state.set_models(&models);
        let config = Config::embedded_default().expect("the embedded default is valid");
        let text = render(&state, &config, Some(4));
        let names = names_in(&text);
        let declared: std::collections::BTreeSet<String> =
            METRIC_NAMES.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, declared, "{text}");
        assert!(text.contains("lad_lines_read_total 7\n"), "{text}");
        assert!(text.contains("lad_lines_suppressed_total 3\n"), "{text}");
        assert!(
            text.contains("lad_errors_total{kind=\"store\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("lad_training_duration_seconds{source=\"syslog\",host=\"web-1\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("lad_model_age_seconds{source=\"syslog\",host=\"web-1\"} "),
            "{text}"
        );
        assert!(text.contains("lad_feedback_active 4\n"), "{text}");
    }

    #[test]
    fn every_counter_is_present_from_start_up() {
        let state = Arc::new(State::default());
        state.alerts.register("alertmanager");
        state.alerts.register("webhook");
        state.record_training(&("syslog".to_string(), "web-1".to_string()), 1.0);
        let config = Config::embedded_default().expect("the embedded default is valid");
        let text = render(&state, &config, None);
        let counters: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" counter"))
            .collect();
        assert!(counters.len() >= 12, "{text}");
        for name in counters {
            let sampled = text
                .lines()
                .any(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']));
            assert!(sampled, "{name} has no sample at start-up:\n{text}");
        }
        for line in [
            "lad_anomalies_total{source=\"syslog\",host=\"web-1\"} 0",
            "lad_alerts_sent_total{receiver=\"alertmanager\"} 0",
            "lad_alerts_sent_total{receiver=\"webhook\"} 0",
            "lad_alert_failures_total{receiver=\"webhook\"} 0",
            "lad_alerts_dropped_total{receiver=\"alertmanager\"} 0",
            "lad_alert_queue_length{receiver=\"webhook\"} 0",
            "lad_errors_total",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        let build = format!(
            "lad_build_info{{version=\"{}\",commit=\"{BUILD_COMMIT}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_open_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(text.contains(name), "{name} missing:\n{text}");
            }
        }
    }

    #[test]
    fn anomalies_count_per_host_and_past_the_bound_as_other() {
        use lad_store::{Record, RecordId, Verdict};
        let state = State::default();
        let record = |id: &str, host: &str| Record {
            id: RecordId::parse(id),
            source: "syslog".to_string(),
            host: host.to_string(),
            time: 0,
            message: String::new(),
            extra: Default::default(),
        };
        let verdict = |id: &str, is_anomaly: bool| Verdict {
            id: RecordId::parse(id),
            is_anomaly,
            score: 1.0,
        };
        let batch = crate::pipeline::ScoredBatch {
            source: "syslog".to_string(),
            records: vec![
                record("1", "a"),
                record("2", "b"),
                record("3", "a"),
                record("4", "c"),
            ],
            // "2" has no verdict (its host has no model).
            verdicts: vec![verdict("1", true), verdict("3", true), verdict("4", false)],
            stats: DetectStats {
                flagged: 2,
                ..DetectStats::default()
            },
        };
        state.record_anomalies(&batch);
        let a = state.anomalies();
        assert_eq!(a.get(&("syslog".to_string(), "a".to_string())), Some(&2));
        assert_eq!(a.len(), 1, "{a:?}");
    }
}
