//! Browsers signed in at `/ui/login`: a random id each (the cookie), held
//! in memory with its expiry. A restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Random bytes in a session id (64 hex characters).
const ID_BYTES: usize = 32;

/// The signed-in sessions and their expiry.
pub struct Sessions {
    lasting: Duration,
    by_id: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// Sessions that last `lasting` from their sign-in.
    pub fn new(lasting: Duration) -> Self {
        Sessions {
            lasting,
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lasts.
    pub fn lasting(&self) -> Duration {
        self.lasting
    }

    /// Starts a session; its id.
    pub fn start(&self, now: Instant) -> std::io::Result<String> {
        let id = crate::auth::random_hex(ID_BYTES)?;
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, until| *until > now);
        map.insert(id.clone(), now + self.lasting);
        Ok(id)
    }

    /// True when `id` names a session that has not expired or ended.
    pub fn valid(&self, id: &str, now: Instant) -> bool {
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(id) {
            Some(until) if *until > now => true,
            Some(_) => {
                map.remove(id);
                false
            }
            None => false,
        }
    }

    /// Ends the session `id`, if there is one.
    pub fn end(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_until_it_expires_or_ends() {
        let s = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let a = s.start(t0).unwrap();
        let b = s.start(t0).unwrap();
        assert_ne!(a, b);
        assert!(a.len() >= 32);
        assert!(s.valid(&a, t0 + Duration::from_secs(59)));
        assert!(!s.valid(&a, t0 + Duration::from_secs(60)));
        assert!(!s.valid(&a, t0), "an expired session is gone");
        s.end(&b);
        assert!(!s.valid(&b, t0));
        assert!(!s.valid("", t0));
    }
}
