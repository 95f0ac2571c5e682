//! Whether the archive store answers: trouble on its side (credentials
//! refused, a missing bucket, an outage, throttling) is ours to fix, never
//! the file's. While it lasts the transfer workers claim nothing, except one
//! trial job at a time on a backoff (1 s doubling to 30 s): the probe is
//! real work, so a store that takes writes but refuses a bucket listing (a
//! write-only policy) is never held down by a stricter check. The first job
//! that goes through ends the condition. One WARN line when it starts, one
//! when it ends, never one per job.

use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::time::Timestamp;

/// The first wait before a trial, doubled after each failed one.
const FIRST_TRIAL: Duration = Duration::from_secs(1);

/// The longest wait between trials: a store that answers again is used
/// within this (plus one job's time).
const MAX_TRIAL: Duration = Duration::from_secs(30);

/// The store's condition as last seen by the workers.
#[derive(Default)]
pub struct StoreHealth {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    down: Option<Down>,
    /// A trial job is under way.
    trial: bool,
}

/// The store failing: since when, why, and when to try again.
#[derive(Debug, Clone)]
pub struct Down {
    pub since: Timestamp,
    pub reason: String,
    next_trial: Instant,
    wait: Duration,
}

/// What a worker may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The store answers: claim as usual.
    Free,
    /// The store fails: this worker's job is the trial; report how it went.
    Trial,
}

impl StoreHealth {
    /// Waits until a worker may claim a job.
    pub async fn pass(&self) -> Pass {
        loop {
            let wake = self.changed.notified();
            let until = {
                let mut s = self.lock();
                let Some(next) = s.down.as_ref().map(|d| d.next_trial) else {
                    return Pass::Free;
                };
                if s.trial {
                    None
                } else if next <= Instant::now() {
                    s.trial = true;
                    return Pass::Trial;
                } else {
                    Some(next)
                }
            };
            match until {
                Some(at) => {
                    tokio::select! {
                        _ = wake => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => wake.await,
            }
        }
    }

    /// A job failed on the store's side (`reason`, one readable line).
    pub fn failed(&self, reason: &str, pass: Pass) {
        let mut s = self.lock();
        let now = Instant::now();
        match &mut s.down {
            None => {
                tracing::warn!(reason, "the archive store fails; transfers pause, their jobs waiting with their attempts uncounted, until it answers again: {reason}");
                s.down = Some(Down {
                    since: Utc::now(),
                    reason: reason.to_owned(),
                    next_trial: now + FIRST_TRIAL,
                    wait: FIRST_TRIAL,
                });
            }
            Some(d) => {
                d.reason = reason.to_owned();
                if pass == Pass::Trial {
                    d.wait = (d.wait * 2).min(MAX_TRIAL);
                    d.next_trial = now + d.wait;
                }
            }
        }
        if pass == Pass::Trial {
            s.trial = false;
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// A job went through the store: the condition, if any, is over.
    pub fn worked(&self) {
        let mut s = self.lock();
        s.trial = false;
        if let Some(d) = s.down.take() {
            let secs = (Utc::now() - d.since).num_seconds();
            tracing::warn!(
                down_secs = secs,
                "the archive store answers again after {secs} s; transfers resume"
            );
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// A trial ended without a word on the store (no job was due, or it
    /// failed before reaching the store): the next may go at once.
    pub fn inconclusive(&self, pass: Pass) {
        if pass != Pass::Trial {
            return;
        }
        let mut s = self.lock();
        s.trial = false;
        drop(s);
        self.changed.notify_waiters();
    }

    /// The condition, while the store fails.
    pub fn down(&self) -> Option<Down> {
        self.lock().down.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn while_the_store_fails_one_trial_goes_on_a_doubling_backoff() {
        let h = StoreHealth::default();
        assert_eq!(h.pass().await, Pass::Free);
        h.failed("store: down", Pass::Free);
        let start = Instant::now();
        assert_eq!(h.pass().await, Pass::Trial);
        assert_eq!(start.elapsed(), FIRST_TRIAL);
        // No second worker gets through while the trial runs.
        let second = tokio::time::timeout(Duration::from_secs(60), h.pass()).await;
        assert!(second.is_err(), "only one trial at a time");
        h.failed("store: still down", Pass::Trial);
        let again = Instant::now();
        assert_eq!(h.pass().await, Pass::Trial);
        assert_eq!(again.elapsed(), FIRST_TRIAL * 2);
        assert_eq!(h.down().unwrap().reason, "store: still down");
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_between_trials_never_exceeds_its_maximum() {
        let h = StoreHealth::default();
        h.failed("x", Pass::Free);
        for _ in 0..10 {
            assert_eq!(h.pass().await, Pass::Trial);
            h.failed("x", Pass::Trial);
        }
        let start = Instant::now();
        assert_eq!(h.pass().await, Pass::Trial);
        assert_eq!(start.elapsed(), MAX_TRIAL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_that_goes_through_frees_every_waiting_worker() {
        let h = std::sync::Arc::new(StoreHealth::default());
        h.failed("x", Pass::Free);
        assert_eq!(h.pass().await, Pass::Trial);
        let waiting = {
            let h = std::sync::Arc::clone(&h);
            tokio::spawn(async move { h.pass().await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        h.worked();
        assert_eq!(waiting.await.unwrap(), Pass::Free);
        assert!(h.down().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_inconclusive_trial_lets_the_next_go_at_once() {
        let h = StoreHealth::default();
        h.failed("x", Pass::Free);
        assert_eq!(h.pass().await, Pass::Trial);
        h.inconclusive(Pass::Trial);
        let start = Instant::now();
        assert_eq!(h.pass().await, Pass::Trial);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(h.down().is_some(), "still down until a job goes through");
    }
}
