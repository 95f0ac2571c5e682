//! Per-source limits, so one noisy or hostile sender cannot starve the
//! others or grow the state without bound: a rate limiter for callbacks, and
//! a quota of rejected requests kept.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::ApiError;
use crate::config::SourceConfig;
use crate::state::Repo;

/// One source's limiter (GCRA: a token bucket kept as one timestamp).
type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The limiters of every rate-limited source.
pub struct Limits<C: Clock = DefaultClock> {
    limiters: HashMap<String, Limiter<C>>,
}

impl Limits {
    /// A limiter for each source that sets `rate_per_sec`.
    pub fn new(sources: &[SourceConfig]) -> Self {
        Self::with_clock(sources, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    /// [`Limits::new`] on another clock, for tests.
    pub fn with_clock(sources: &[SourceConfig], clock: &C) -> Self {
        let limiters = sources
            .iter()
            .filter_map(|s| {
                let quota = quota(s.rate_per_sec?, s.rate_burst);
                Some((
                    s.name.clone(),
                    RateLimiter::direct_with_clock(quota, clock.clone()),
                ))
            })
            .collect();
        Limits { limiters }
    }
}

impl<C: Clock> Limits<C> {
    /// Admits one callback from the source, or answers 429.
    pub fn admit(&self, source: &SourceConfig) -> Result<(), ApiError> {
        let (Some(rate), Some(limiter)) = (source.rate_per_sec, self.limiters.get(&source.name))
        else {
            return Ok(());
        };
        limiter.check().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "source {:?} is limited to {rate} callbacks/s; retry later",
                    source.name
                ),
            )
        })
    }
}

/// `rate_burst` callbacks at once, then one every `1 / rate_per_sec` seconds
/// (the rate may be fractional: 0.5 is one every 2 s).
fn quota(rate_per_sec: f64, rate_burst: u32) -> Quota {
    let burst = NonZeroU32::new(rate_burst).unwrap_or(NonZeroU32::MIN);
    // governor counts in u64 nanoseconds and adds period × burst to the
    // uptime: bounded to half of that range (292 years), it cannot overflow.
    let longest = Duration::from_nanos(u64::MAX / 2 / u64::from(burst.get()));
    let period = Duration::try_from_secs_f64(1.0 / rate_per_sec)
        .unwrap_or(longest)
        .clamp(Duration::from_nanos(1), longest);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

/// Rejected requests kept so far, per source, against `state.max_rejected_per_source`.
pub struct RejectedQuota {
    kept: Mutex<HashMap<String, u64>>,
    max: u64,
    /// When each source was last recounted: at most once a minute each.
    recounted: Mutex<HashMap<String, std::time::Instant>>,
}

impl RejectedQuota {
    /// Starts from what the state store already holds.
    pub fn new(kept: HashMap<String, u64>, max: u64) -> Self {
        RejectedQuota {
            kept: Mutex::new(kept),
            max,
            recounted: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one place for `source`; false when its quota is used up.
    pub fn take(&self, source: &str) -> bool {
        self.take_counted(source, None)
    }

    /// [`RejectedQuota::take`]; when the quota looks used up, what the
    /// state keeps is recounted (at most once a minute: retention prunes
    /// what it holds), and the quota is taken from what is there now.
    pub async fn take_or_recount(&self, repo: &Repo, source: &str) -> bool {
        if self.take(source) {
            return true;
        }
        if !self.recount_due(source) {
            return false;
        }
        match repo.rejected_counts().await {
            Ok(counts) => self.take_counted(source, Some(counts.get(source).copied().unwrap_or(0))),
            Err(_) => false,
        }
    }

    /// Takes a place for `source`, its count first set to `counted` if given.
    fn take_counted(&self, source: &str, counted: Option<u64>) -> bool {
        let Ok(mut kept) = self.kept.lock() else {
            return false;
        };
        let n = kept.entry(source.to_owned()).or_insert(0);
        if let Some(c) = counted {
            *n = c;
        }
        if *n >= self.max {
            return false;
        }
        *n += 1;
        true
    }

    /// Whether `source` may be recounted now (noting that it is).
    fn recount_due(&self, source: &str) -> bool {
        self.recounted.lock().is_ok_and(|mut at| {
            let last = at.get(source);
            let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
            if due {
                at.insert(source.to_owned(), std::time::Instant::now());
            }
            due
        })
    }

    /// Gives back a place taken for a request that could not be kept after all.
    pub fn give_back(&self, source: &str) {
        if let Ok(mut kept) = self.kept.lock() {
            if let Some(n) = kept.get_mut(source) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn source(toml: &str) -> SourceConfig {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_spent_burst_refills_one_callback_per_period() {
        // 0.5 callbacks/s: one every 2 s once the burst of 3 is spent.
        let noisy = source("name = \"noisy\"\nrate_per_sec = 0.5\nrate_burst = 3\n");
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(std::slice::from_ref(&noisy), &clock);
        for i in 0..3 {
            assert!(limits.admit(&noisy).is_ok(), "callback {i} of the burst");
        }
        let refused = limits.admit(&noisy).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "rate_limited");
        assert_eq!(
            refused.message,
            "source \"noisy\" is limited to 0.5 callbacks/s; retry later"
        );

        clock.advance(Duration::from_millis(1999));
        assert!(limits.admit(&noisy).is_err(), "not before the period is up");
        clock.advance(Duration::from_millis(1));
        assert!(limits.admit(&noisy).is_ok(), "one more after one period");
        assert!(limits.admit(&noisy).is_err(), "and only one");
    }

    #[test]
    fn a_source_without_a_rate_is_never_limited() {
        let calm = source("name = \"calm\"\n");
        let limits = Limits::with_clock(std::slice::from_ref(&calm), &FakeRelativeClock::default());
        for _ in 0..1000 {
            assert!(limits.admit(&calm).is_ok());
        }
    }

    #[test]
    fn extreme_rates_make_a_quota_rather_than_a_panic() {
        for (rate, burst) in [(f64::MIN_POSITIVE, u32::MAX), (1e-300, 1), (1e300, 0)] {
            let q = quota(rate, burst);
            assert!(q.replenish_interval() > Duration::ZERO);
            assert_eq!(q.burst_size().get(), burst.max(1));
            let limiter = RateLimiter::direct_with_clock(q, FakeRelativeClock::default());
            assert!(limiter.check().is_ok());
        }
    }

    #[test]
    fn the_rejected_quota_counts_what_is_already_kept() {
        let q = RejectedQuota::new(HashMap::from([("a".to_owned(), 1)]), 2);
        assert!(q.take("a"));
        assert!(!q.take("a"), "a's quota is used up");
        assert!(q.take("b"), "another source keeps its own quota");
        q.give_back("a");
        assert!(q.take("a"));
    }
}
