//! Per-source callback rate limits: a token bucket per source, so one noisy
//! or hostile sender cannot starve the others.

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
