//! Keys that sort by time: 8 bytes of big-endian milliseconds, then 8 bytes of
//! a database-wide sequence, so listings are in order and cursors are cheap.
//! Their hex form is the id shown in the API.

use std::fmt;

/// A 16-byte time-ordered key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeKey([u8; 16]);

impl TimeKey {
    /// A key for `millis` since the epoch with a unique `seq`.
    pub fn new(millis: u64, seq: u64) -> Self {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&millis.to_be_bytes());
        k[8..].copy_from_slice(&seq.to_be_bytes());
        TimeKey(k)
    }

    /// The raw bytes stored in sled.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads back stored bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(TimeKey)
    }

    /// Parses the hex form (an id or a cursor).
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = hex_decode(s)?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Display for TimeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Inverse of [`hex_encode`] (either case); `None` on anything else.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    // Ids and cursors are short: a long string is refused before decoding.
    if s.len() > 1024 {
        return None;
    }
    hex::decode(s).ok()
}

/// The due-index key: when, then which job.
pub fn due_key(due_millis: u64, job: &TimeKey) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&due_millis.to_be_bytes());
    k[8..].copy_from_slice(job.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_time_then_sequence_and_round_trip() {
        let a = TimeKey::new(1, 9);
        let b = TimeKey::new(2, 0);
        assert!(a.as_bytes() < b.as_bytes());
        assert!(a.to_string() < b.to_string());
        assert_eq!(TimeKey::parse(&a.to_string()), Some(a));
        assert_eq!(TimeKey::parse("zz"), None);
        assert_eq!(TimeKey::parse("abc"), None);
    }
}
