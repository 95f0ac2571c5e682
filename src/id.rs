//! Ids that sort by time: 8 bytes of big-endian milliseconds, then 8 bytes of
//! a store-wide sequence, so listings come out in order and cursors are
//! cheap. Their lower-case hex is the id shown in the API. Each record kind
//! has its own newtype, so a job id can never be looked up as an event.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 16-byte time-ordered key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeKey([u8; 16]);

impl TimeKey {
    /// A key for `millis` since the epoch with a unique `seq`.
    pub fn new(millis: u64, seq: u64) -> Self {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&millis.to_be_bytes());
        k[8..].copy_from_slice(&seq.to_be_bytes());
        TimeKey(k)
    }

    /// The raw bytes, as stored.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads back stored bytes; `None` unless exactly 16.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(TimeKey)
    }

    /// Parses the hex form (an id or a cursor).
    pub fn parse(s: &str) -> Option<Self> {
        let mut k = [0u8; 16];
        hex::decode_to_slice(s, &mut k).ok()?;
        Some(TimeKey(k))
    }

    /// The milliseconds part.
    pub fn millis(&self) -> u64 {
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(ms)
    }
}

impl fmt::Display for TimeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Defines a newtype id over [`TimeKey`], shown and serialized as its hex.
macro_rules! time_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub TimeKey);

        impl $name {
            /// Parses the hex form given out by the API; `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                TimeKey::parse(s).map($name)
            }

            /// The stored key.
            pub fn key(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Reads back a stored key.
            pub fn from_bytes(b: &[u8]) -> Option<Self> {
                TimeKey::from_bytes(b).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("{s:?} is not a {}", stringify!($name)))
                })
            }
        }
    };
}

time_id!(
    /// An event: one normalized callback.
    EventId
);
time_id!(
    /// An archive job.
    JobId
);
time_id!(
    /// A catalog entry: one archived file.
    EntryId
);
time_id!(
    /// A callback we could not read, kept whole.
    RejectedId
);

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
        assert_eq!(b.millis(), 2);
    }

    #[test]
    fn ids_serialize_as_their_hex() {
        let id = JobId(TimeKey::new(1_700_000_000_000, 7));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<JobId>("\"nope\"").is_err());
    }
}
