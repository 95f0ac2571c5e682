//! Counters and a histogram for `GET /metrics` (Prometheus text format).
//! Gauges about the queue are read from the state store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the transfer-duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 9] = [0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];

/// How a transfer attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransferOutcome {
    Done,
    Retry,
    Failed,
    Interrupted,
}

impl TransferOutcome {
    fn label(self) -> &'static str {
        match self {
            TransferOutcome::Done => "done",
            TransferOutcome::Retry => "retry",
            TransferOutcome::Failed => "failed",
            TransferOutcome::Interrupted => "interrupted",
        }
    }
}

/// The daemon's counters.
#[derive(Default)]
pub struct Metrics {
    /// (source, provider, outcome) → count. Sources are the configured ones
    /// (an unknown name is counted as "unknown"), so labels stay bounded.
    callbacks: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// source → rejected requests answered 400 but not kept (quota reached).
    rejected_dropped: Mutex<BTreeMap<String, u64>>,
    transfers: Mutex<BTreeMap<TransferOutcome, u64>>,
    bytes_archived: AtomicU64,
    duration_buckets: [AtomicU64; DURATION_BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_ms: AtomicU64,
}

/// Queue gauges, read from the state store when scraped.
pub struct QueueGauges {
    pub jobs_by_state: BTreeMap<&'static str, u64>,
    /// Jobs waiting whose time has come.
    pub due_now: u64,
    /// Age of the longest-waiting due job, in seconds.
    pub oldest_due_age_s: f64,
}

impl Metrics {
    /// Counts a callback by its answer.
    pub fn callback(&self, source: &str, provider: &str, outcome: &'static str) {
        if let Ok(mut m) = self.callbacks.lock() {
            *m.entry((source.to_owned(), provider.to_owned(), outcome))
                .or_default() += 1;
        }
    }

    /// Counts a rejected request not kept because its source's quota is full.
    pub fn rejected_dropped(&self, source: &str) {
        if let Ok(mut m) = self.rejected_dropped.lock() {
            *m.entry(source.to_owned()).or_default() += 1;
        }
    }

    /// Counts a transfer attempt; a completed one adds its bytes and duration.
    pub fn transfer(&self, outcome: TransferOutcome, bytes: u64, took: Duration) {
        if let Ok(mut m) = self.transfers.lock() {
            *m.entry(outcome).or_default() += 1;
        }
        if outcome == TransferOutcome::Done {
            self.bytes_archived.fetch_add(bytes, Relaxed);
            let secs = took.as_secs_f64();
            for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    self.duration_buckets[i].fetch_add(1, Relaxed);
                }
            }
            self.duration_count.fetch_add(1, Relaxed);
            self.duration_sum_ms
                .fetch_add(took.as_millis() as u64, Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, q: &QueueGauges) -> String {
        let mut out = String::new();
        let p = "recording_archiver";
        let _ = writeln!(
            out,
            "# HELP {p}_callbacks_total Callbacks received, by source, provider and answer."
        );
        let _ = writeln!(out, "# TYPE {p}_callbacks_total counter");
        if let Ok(m) = self.callbacks.lock() {
            for ((source, provider, outcome), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "{p}_callbacks_total{{source=\"{}\",provider=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(source),
                    escape(provider)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP {p}_rejected_dropped_total Unparseable callbacks answered 400 but not kept: \
             the source's state.max_rejected_per_source was reached."
        );
        let _ = writeln!(out, "# TYPE {p}_rejected_dropped_total counter");
        if let Ok(m) = self.rejected_dropped.lock() {
            for (source, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "{p}_rejected_dropped_total{{source=\"{}\"}} {n}",
                    escape(source)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP {p}_transfers_total Transfer attempts, by how they ended."
        );
        let _ = writeln!(out, "# TYPE {p}_transfers_total counter");
        let transfers = self.transfers.lock().map(|m| m.clone()).unwrap_or_default();
        for o in [
            TransferOutcome::Done,
            TransferOutcome::Retry,
            TransferOutcome::Failed,
            TransferOutcome::Interrupted,
        ] {
            let n = transfers.get(&o).copied().unwrap_or(0);
            let _ = writeln!(out, "{p}_transfers_total{{outcome=\"{}\"}} {n}", o.label());
        }
        let _ = writeln!(
            out,
            "# HELP {p}_retries_total Attempts that failed and were scheduled again."
        );
        let _ = writeln!(out, "# TYPE {p}_retries_total counter");
        let _ = writeln!(
            out,
            "{p}_retries_total {}",
            transfers.get(&TransferOutcome::Retry).copied().unwrap_or(0)
        );
        let _ = writeln!(
            out,
            "# HELP {p}_bytes_archived_total Bytes of files archived."
        );
        let _ = writeln!(out, "# TYPE {p}_bytes_archived_total counter");
        let _ = writeln!(
            out,
            "{p}_bytes_archived_total {}",
            self.bytes_archived.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP {p}_transfer_duration_seconds Duration of completed transfers."
        );
        let _ = writeln!(out, "# TYPE {p}_transfer_duration_seconds histogram");
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            let n = self.duration_buckets[i].load(Relaxed);
            let _ = writeln!(
                out,
                "{p}_transfer_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let count = self.duration_count.load(Relaxed);
        let _ = writeln!(
            out,
            "{p}_transfer_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "{p}_transfer_duration_seconds_sum {}",
            self.duration_sum_ms.load(Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "{p}_transfer_duration_seconds_count {count}");
        let _ = writeln!(out, "# HELP {p}_jobs Jobs by state.");
        let _ = writeln!(out, "# TYPE {p}_jobs gauge");
        for (state, n) in &q.jobs_by_state {
            let _ = writeln!(out, "{p}_jobs{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP {p}_queue_depth Jobs due now and not yet claimed."
        );
        let _ = writeln!(out, "# TYPE {p}_queue_depth gauge");
        let _ = writeln!(out, "{p}_queue_depth {}", q.due_now);
        let _ = writeln!(out, "# HELP {p}_oldest_queued_job_age_seconds How long the longest-waiting due job has waited.");
        let _ = writeln!(out, "# TYPE {p}_oldest_queued_job_age_seconds gauge");
        let _ = writeln!(
            out,
            "{p}_oldest_queued_job_age_seconds {:.3}",
            q.oldest_due_age_s
        );
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counters_render() {
        let m = Metrics::default();
        m.transfer(TransferOutcome::Done, 100, Duration::from_secs(2));
        m.transfer(TransferOutcome::Retry, 0, Duration::from_secs(1));
        m.callback("jd", "jdcloud", "ok");
        let q = QueueGauges {
            jobs_by_state: BTreeMap::from([("done", 1)]),
            due_now: 0,
            oldest_due_age_s: 0.0,
        };
        let text = m.render(&q);
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
}
