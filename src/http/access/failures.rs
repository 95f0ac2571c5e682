//! Failed authentications per client address: a few are let through at
//! once (a person mistyping), then about one a second, so that guessing a
//! token costs years instead of a second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may make in a row before it has to wait.
const BURST: f64 = 5.0;

/// Failures an address is forgiven per second past the burst.
const PER_SEC: f64 = 1.0;

/// Addresses remembered before the forgiven ones are dropped.
const PRUNE_PAST: usize = 10_000;

/// A leaky bucket of failures per client address (an IPv6 address counts
/// with its whole /64, which one client can hold).
#[derive(Default)]
pub struct Failures {
    by_client: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    /// The level left at `now`, once leaked.
    fn level_at(&self, now: Instant) -> f64 {
        let leaked = now.saturating_duration_since(self.at).as_secs_f64() * PER_SEC;
        (self.level - leaked).max(0.0)
    }
}

/// The key `ip` is counted under.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Failures {
    /// How long `ip` must wait before a token it presents is looked at; `None`: not at all.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
        let level = map.get(&client(ip))?.level_at(now);
        (level + 1.0 > BURST).then(|| Duration::from_secs_f64((level + 1.0 - BURST) / PER_SEC))
    }

    /// Counts a failure of `ip`.
    pub fn record(&self, ip: IpAddr, now: Instant) {
        let mut map = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_PAST {
            map.retain(|_, b| b.level_at(now) > 0.0);
        }
        let b = map.entry(client(ip)).or_insert(Bucket {
            level: 0.0,
            at: now,
        });
        *b = Bucket {
            level: b.level_at(now) + 1.0,
            at: now,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_then_about_one_a_second() {
        let f = Failures::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(f.wait(ip, t0), None);
            f.record(ip, t0);
        }
        let wait = f.wait(ip, t0).expect("limited after five");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(f.wait(ip, t0 + Duration::from_millis(500)).is_some());
        assert_eq!(f.wait(ip, t0 + Duration::from_secs(1)), None);
        f.record(ip, t0 + Duration::from_secs(1));
        assert!(f.wait(ip, t0 + Duration::from_secs(1)).is_some());
        // Others are not held up by it.
        assert_eq!(f.wait("192.0.2.8".parse().unwrap(), t0), None);
        assert_eq!(f.wait(ip, t0 + Duration::from_secs(30)), None);
    }

    #[test]
    fn an_ipv6_client_counts_with_its_slash_64() {
        let f = Failures::default();
        let t0 = Instant::now();
        for i in 0..5 {
            f.record(format!("2001:db8:1:2::{i}").parse().unwrap(), t0);
        }
        assert!(f.wait("2001:db8:1:2::99".parse().unwrap(), t0).is_some());
        assert_eq!(f.wait("2001:db8:1:3::1".parse().unwrap(), t0), None);
    }
}
