//! The queue's backlog over time, for the UI's overview chart: the job
//! counts by state, sampled once a minute from the state store, the last
//! seven days kept in memory (10,080 samples at most). A restarted daemon
//! starts a new history; the counts themselves are the store's, shared by
//! every instance.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::background::{Next, Worker};
use crate::queue::JobState;
use crate::state::Repo;
use crate::time::Timestamp;

/// How often the backlog is sampled.
pub const EVERY: Duration = Duration::from_secs(60);

/// How long samples are kept.
const KEPT: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// The job counts at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: Timestamp,
    /// Queued or waiting to be retried.
    pub waiting: u64,
    pub running: u64,
    pub failed: u64,
}

impl Sample {
    /// The counts of `gauges` at `at`.
    pub fn of(gauges: &crate::state::Gauges, at: Timestamp) -> Sample {
        let n = |want: &[JobState]| -> u64 {
            gauges
                .by_state
                .iter()
                .filter(|(s, _)| want.contains(s))
                .map(|(_, n)| n)
                .sum()
        };
        Sample {
            at,
            waiting: n(&[JobState::Queued, JobState::Retrying]),
            running: n(&[JobState::Running]),
            failed: n(&[JobState::Failed]),
        }
    }
}

/// The samples taken, the oldest first.
#[derive(Default)]
pub struct Backlog {
    samples: Mutex<VecDeque<Sample>>,
}

impl Backlog {
    /// Keeps `s`, dropping what is older than seven days before it.
    pub fn add(&self, s: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        while samples.front().is_some_and(|o| s.at - o.at > KEPT) {
            samples.pop_front();
        }
        samples.push_back(s);
    }

    /// The samples taken since `since`, the oldest first.
    pub fn since(&self, since: Timestamp) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().filter(|s| s.at >= since).copied().collect()
    }
}

/// Samples the backlog once a minute.
pub struct Sampler {
    pub repo: Repo,
    pub backlog: Arc<Backlog>,
}

#[async_trait::async_trait]
impl Worker for Sampler {
    fn name(&self) -> String {
        "backlog sampler".to_owned()
    }

    async fn work(&mut self) -> Next {
        let now = chrono::Utc::now();
        match self.repo.gauges(now).await {
            Ok(g) => self.backlog.add(Sample::of(&g, now)),
            Err(e) => tracing::debug!(error = %e, "sampling the backlog failed"),
        }
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_seven_days() {
        let b = Backlog::default();
        let t0 = crate::time::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        for m in 0..(8 * 24 * 60) {
            let at = t0 + chrono::TimeDelta::minutes(m);
            b.add(Sample {
                at,
                waiting: m as u64,
                running: 0,
                failed: 0,
            });
        }
        let all = b.since(t0);
        assert_eq!(all.len(), 7 * 24 * 60 + 1);
        assert_eq!(all[0].waiting, 24 * 60 - 1);
        let last_hour = b.since(t0 + chrono::TimeDelta::minutes(8 * 24 * 60 - 60));
        assert_eq!(last_hour.len(), 60);
    }
}
