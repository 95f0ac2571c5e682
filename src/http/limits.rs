//! Per-source limits, so one noisy or hostile sender cannot starve the
//! others or grow the state without bound: a token bucket for callbacks, and
//! a quota of rejected requests kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::http::StatusCode;

use super::ApiError;
use crate::config::SourceConfig;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every rate-limited source.
#[derive(Default)]
pub struct Limits {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limits {
    /// Takes one callback from the source's bucket, or answers 429.
    pub fn admit(&self, source: &SourceConfig) -> Result<(), ApiError> {
        let Some(rate) = source.rate_per_sec else {
            return Ok(());
        };
        let burst = f64::from(source.rate_burst.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "rate limiter poisoned",
            )
        })?;
        let b = buckets.entry(source.name.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "source {:?} is limited to {rate} callbacks/s; retry later",
                    source.name
                ),
            ))
        }
    }
}

/// Rejected requests kept so far, per source, against `state.max_rejected_per_source`.
pub struct RejectedQuota {
    kept: Mutex<HashMap<String, u64>>,
    max: u64,
}

impl RejectedQuota {
    /// Starts from what the state store already holds.
    pub fn new(kept: HashMap<String, u64>, max: u64) -> Self {
        RejectedQuota {
            kept: Mutex::new(kept),
            max,
        }
    }

    /// Takes one place for `source`; false when its quota is used up.
    pub fn take(&self, source: &str) -> bool {
        let Ok(mut kept) = self.kept.lock() else {
            return false;
        };
        let n = kept.entry(source.to_owned()).or_insert(0);
        if *n >= self.max {
            return false;
        }
        *n += 1;
        true
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
