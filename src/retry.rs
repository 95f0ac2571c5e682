//! The retry policy: exponential backoff with jitter, computed with the
//! `backoff` crate. The only file that knows that crate.

use std::time::Duration;

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;

use crate::config::TransferConfig;

/// Jitter: each delay is drawn from ±50% around the exponential value.
const RANDOMIZATION: f64 = 0.5;

/// The delay before attempt `attempts + 1`, after `attempts` have failed.
pub fn delay_after(attempts: u32, cfg: &TransferConfig) -> Duration {
    let initial = Duration::from_secs(cfg.retry_initial_secs);
    let max = Duration::from_secs(cfg.retry_max_secs);
    // The crate's backoff is a running state; rebuilding it at the interval
    // this attempt has reached keeps the schedule a pure function of the
    // attempt count, so a restart resumes it from what sled holds.
    let exponent = attempts.saturating_sub(1).min(30);
    let current = initial
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(max);
    let mut b = ExponentialBackoff {
        current_interval: current,
        initial_interval: initial,
        randomization_factor: RANDOMIZATION,
        multiplier: 2.0,
        max_interval: max,
        max_elapsed_time: None,
        ..ExponentialBackoff::default()
    };
    b.next_backoff().unwrap_or(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TransferConfig {
        TransferConfig {
            retry_initial_secs: 5,
            retry_max_secs: 1800,
            ..TransferConfig::default()
        }
    }

    #[test]
    fn delays_grow_exponentially_within_the_jitter() {
        for (attempts, centre) in [(1u32, 5.0f64), (2, 10.0), (3, 20.0), (6, 160.0)] {
            for _ in 0..50 {
                let d = delay_after(attempts, &cfg()).as_secs_f64();
                assert!(
                    d >= centre * 0.5 - 1e-9 && d <= centre * 1.5 + 1e-9,
                    "attempt {attempts}: {d}"
                );
            }
        }
    }

    #[test]
    fn delays_never_exceed_the_maximum() {
        for attempts in [12, 30, 1000] {
            assert!(delay_after(attempts, &cfg()) <= Duration::from_secs(1800));
        }
    }

    #[test]
    fn delays_are_jittered() {
        let samples: std::collections::HashSet<u128> = (0..20)
            .map(|_| delay_after(3, &cfg()).as_millis())
            .collect();
        assert!(samples.len() > 1);
    }
}
