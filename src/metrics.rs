//! Counters and a histogram for `GET /metrics` (Prometheus text format).
//! Gauges about the queue are read from the state store at scrape time.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Every series' name starts with this.
const PREFIX: &str = "recording_archiver";

/// Upper bounds of the transfer-duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 9] = [0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// How a transfer attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransferOutcome {
    Done,
    Retry,
    Failed,
    Interrupted,
    /// The store failed on its side: the job waits, its attempt uncounted.
    StoreDown,
}

impl TransferOutcome {
    const ALL: [TransferOutcome; 5] = [
        TransferOutcome::Done,
        TransferOutcome::Retry,
        TransferOutcome::Failed,
        TransferOutcome::Interrupted,
        TransferOutcome::StoreDown,
    ];

    fn label(self) -> &'static str {
        match self {
            TransferOutcome::Done => "done",
            TransferOutcome::Retry => "retry",
            TransferOutcome::Failed => "failed",
            TransferOutcome::Interrupted => "interrupted",
            TransferOutcome::StoreDown => "store_down",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    source: String,
    provider: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The daemon's counters.
pub struct Metrics {
    registry: Registry,
    /// Sources are the configured ones (an unknown name is counted as
    /// "unknown"), so labels stay bounded.
    callbacks: Family<CallbackLabels, Counter>,
    rejected_dropped: Family<SourceLabels, Counter>,
    transfers: Family<OutcomeLabels, Counter>,
    retries: Counter,
    bytes_archived: Counter,
    transfer_duration: Histogram,
    archive_store_up: Gauge<i64, std::sync::atomic::AtomicI64>,
    store_paused: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let callbacks = Family::<CallbackLabels, Counter>::default();
        let rejected_dropped = Family::<SourceLabels, Counter>::default();
        let transfers = Family::<OutcomeLabels, Counter>::default();
        // Every outcome is shown from the start, at 0, so a rate over it
        // needs no `or vector(0)`.
        for o in TransferOutcome::ALL {
            let _ = transfers.get_or_create(&OutcomeLabels { outcome: o.label() });
        }
        let retries = Counter::default();
        let bytes_archived = Counter::default();
        let transfer_duration = Histogram::new(DURATION_BUCKETS);
        let archive_store_up = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let store_paused = Gauge::<i64, std::sync::atomic::AtomicI64>::default();

        // The registry appends `_total` to counters and a full stop to help texts.
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register(
            "callbacks",
            "Callbacks received, by source, provider and answer",
            callbacks.clone(),
        );
        registry.register(
            "rejected_dropped",
            "Unparseable callbacks answered 400 but not kept: \
             the source's state.max_rejected_per_source was reached",
            rejected_dropped.clone(),
        );
        registry.register(
            "transfers",
            "Transfer attempts, by how they ended",
            transfers.clone(),
        );
        registry.register(
            "retries",
            "Attempts that failed and were scheduled again",
            retries.clone(),
        );
        registry.register(
            "bytes_archived",
            "Bytes of files archived",
            bytes_archived.clone(),
        );
        registry.register(
            "transfer_duration_seconds",
            "Duration of completed transfers",
            transfer_duration.clone(),
        );
        registry.register(
            "archive_store_up",
            "1 if the archive store answered its last readiness probe, else 0",
            archive_store_up.clone(),
        );
        registry.register(
            "store_paused",
            "1 while transfers wait for the archive store, which failed on its side \
             (credentials, bucket, outage), else 0",
            store_paused.clone(),
        );
        Metrics {
            registry,
            callbacks,
            rejected_dropped,
            transfers,
            retries,
            bytes_archived,
            transfer_duration,
            archive_store_up,
            store_paused,
        }
    }
}

/// Queue gauges, read from the state store when scraped.
pub struct QueueGauges {
    pub jobs_by_state: BTreeMap<&'static str, u64>,
    /// Jobs waiting whose time has come.
    pub due_now: u64,
    /// Age of the longest-waiting due job, in seconds.
    pub oldest_due_age_s: f64,
}

impl QueueGauges {
    /// The gauges as a registry of their own: they are a reading taken for
    /// this scrape, not state the daemon keeps.
    fn registry(&self) -> Registry {
        let jobs = Family::<StateLabels, Gauge<u64, AtomicU64>>::default();
        for (state, n) in &self.jobs_by_state {
            jobs.get_or_create(&StateLabels { state }).set(*n);
        }
        let depth = Gauge::<u64, AtomicU64>::default();
        depth.set(self.due_now);
        let oldest = Gauge::<f64, AtomicU64>::default();
        // Milliseconds are what the state store records.
        oldest.set((self.oldest_due_age_s * 1000.0).round() / 1000.0);

        let mut registry = Registry::with_prefix(PREFIX);
        registry.register("jobs", "Jobs by state", jobs);
        registry.register("queue_depth", "Jobs due now and not yet claimed", depth);
        registry.register(
            "oldest_queued_job_age_seconds",
            "How long the longest-waiting due job has waited",
            oldest,
        );
        registry
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance_id: String,
}

impl Metrics {
    /// The counters of the instance `instance_id`, which an info metric
    /// names (`recording_archiver_instance_info{instance_id=...} 1`).
    pub fn of_instance(instance_id: &str) -> Metrics {
        let mut m = Metrics::default();
        let info = Family::<InstanceLabels, Gauge>::default();
        info.get_or_create(&InstanceLabels {
            instance_id: instance_id.to_owned(),
        })
        .set(1);
        m.registry
            .register("instance_info", "This instance (instance_id)", info);
        m
    }

    /// Records the archive store's last readiness probe.
    pub fn archive_store_up(&self, up: bool) {
        self.archive_store_up.set(i64::from(up));
    }

    /// Whether transfers wait for the archive store now.
    pub fn store_paused(&self, paused: bool) {
        self.store_paused.set(i64::from(paused));
    }

    /// Counts a callback by its answer.
    pub fn callback(&self, source: &str, provider: &str, outcome: &'static str) {
        self.callbacks
            .get_or_create(&CallbackLabels {
                source: source.to_owned(),
                provider: provider.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts a rejected request not kept because its source's quota is full.
    pub fn rejected_dropped(&self, source: &str) {
        self.rejected_dropped
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Counts a transfer attempt; a completed one adds its bytes and duration.
    pub fn transfer(&self, outcome: TransferOutcome, bytes: u64, took: Duration) {
        self.transfers
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        match outcome {
            TransferOutcome::Done => {
                self.bytes_archived.inc_by(bytes);
                self.transfer_duration.observe(took.as_secs_f64());
            }
            TransferOutcome::Retry => {
                self.retries.inc();
            }
            TransferOutcome::Failed | TransferOutcome::Interrupted | TransferOutcome::StoreDown => {
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self, q: &QueueGauges) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the text format has no end
        // marker, so two registries' texts simply follow each other.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_text::encode(&mut out, &q.registry());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges() -> QueueGauges {
        QueueGauges {
            jobs_by_state: BTreeMap::from([("done", 1), ("queued", 0)]),
            due_now: 0,
            oldest_due_age_s: 0.0,
        }
    }

    #[test]
    fn the_histogram_is_cumulative_and_counters_render() {
        let m = Metrics::default();
        m.transfer(TransferOutcome::Done, 100, Duration::from_secs(2));
        m.transfer(TransferOutcome::Retry, 0, Duration::from_secs(1));
        m.callback("jd", "jdcloud", "ok");
        let text = m.render(&gauges());
        assert!(
            text.contains("recording_archiver_transfer_duration_seconds_bucket{le=\"1\"} 0"),
            "{text}"
        );
        assert!(text.contains("recording_archiver_transfer_duration_seconds_bucket{le=\"5\"} 1"));
        assert!(text.contains("recording_archiver_transfer_duration_seconds_bucket{le=\"+Inf\"} 1"));
        assert!(text.contains("recording_archiver_bytes_archived_total 100"));
        assert!(text.contains("recording_archiver_retries_total 1"));
        assert!(text.contains("recording_archiver_callbacks_total{source=\"jd\",provider=\"jdcloud\",outcome=\"ok\"} 1"));
    }

    #[test]
    fn every_series_keeps_its_name_labels_and_type() {
        let m = Metrics::default();
        m.callback("unknown", "", "unknown_source");
        m.rejected_dropped("noisy");
        let text = m.render(&gauges());
        for line in [
            "# TYPE recording_archiver_callbacks_total counter",
            "recording_archiver_callbacks_total{source=\"unknown\",provider=\"\",outcome=\"unknown_source\"} 1",
            "# TYPE recording_archiver_rejected_dropped_total counter",
            "recording_archiver_rejected_dropped_total{source=\"noisy\"} 1",
            "# TYPE recording_archiver_transfers_total counter",
            "recording_archiver_transfers_total{outcome=\"done\"} 0",
            "recording_archiver_transfers_total{outcome=\"retry\"} 0",
            "recording_archiver_transfers_total{outcome=\"failed\"} 0",
            "recording_archiver_transfers_total{outcome=\"interrupted\"} 0",
            "# TYPE recording_archiver_retries_total counter",
            "recording_archiver_retries_total 0",
            "# TYPE recording_archiver_bytes_archived_total counter",
            "# HELP recording_archiver_transfer_duration_seconds Duration of completed transfers.",
            "# TYPE recording_archiver_transfer_duration_seconds histogram",
            "recording_archiver_transfer_duration_seconds_bucket{le=\"0.5\"} 0",
            "recording_archiver_transfer_duration_seconds_bucket{le=\"14400\"} 0",
            "recording_archiver_transfer_duration_seconds_count 0",
            "# TYPE recording_archiver_jobs gauge",
            "recording_archiver_jobs{state=\"done\"} 1",
            "recording_archiver_jobs{state=\"queued\"} 0",
            "# TYPE recording_archiver_queue_depth gauge",
            "recording_archiver_queue_depth 0",
            "# TYPE recording_archiver_oldest_queued_job_age_seconds gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
