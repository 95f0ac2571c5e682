//! Hashing while bytes stream past: SHA-256, MD5, CRC32C and the byte
//! count in one pass, so a checksum never needs a second read. The running state can be
//! saved and taken up again, so an upload resumed after a restart hashes on
//! from where it was without reading its first bytes again.

use base64::Engine;
use md5::Md5;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest, Sha256};

/// Names the layout of a saved state: sha2 0.11's and md-5 0.11's own
/// serialized states. Another version of those crates may lay them out
/// otherwise; a state saved by one is then refused, not misread.
const STATE_FORMAT: &str = "sha2-0.11+md5-0.11";

/// Running hashes of a stream.
#[derive(Clone)]
pub struct Hasher {
    sha256: Sha256,
    md5: Md5,
    /// The CRC32C of the whole stream (S3's full-object checksum); `None`
    /// when resumed from a state saved without it.
    crc32c: Option<u32>,
    size: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher {
            sha256: Sha256::default(),
            md5: Md5::default(),
            crc32c: Some(0),
            size: 0,
        }
    }
}

/// The final digests of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex.
    pub md5: String,
    pub size: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.md5.update(bytes);
        self.crc32c = self.crc32c.map(|c| crc32c::crc32c_append(c, bytes));
        self.size += bytes.len() as u64;
    }

    /// The CRC32C of every byte so far, if known from the first.
    pub fn crc32c(&self) -> Option<u32> {
        self.crc32c
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The running state, to save with an upload and take up with [`Hasher::resume`].
    pub fn state(&self) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut state = format!(
            "{STATE_FORMAT}:{}:{}:{}",
            self.size,
            b64(&self.sha256.serialize()),
            b64(&self.md5.serialize())
        );
        if let Some(crc) = self.crc32c {
            state.push_str(&format!(":{crc}"));
        }
        state
    }

    /// Takes up a saved state; `None` if it is not one.
    pub fn resume(state: &str) -> Option<Hasher> {
        let mut fields = state.split(':');
        if fields.next()? != STATE_FORMAT {
            return None;
        }
        let size = fields.next()?.parse().ok()?;
        let bytes = |f: Option<&str>| base64::engine::general_purpose::STANDARD.decode(f?).ok();
        let sha = bytes(fields.next())?;
        let md5 = bytes(fields.next())?;
        // States saved before the CRC32C was kept end after the MD5.
        let crc32c = match fields.next() {
            Some(crc) => Some(crc.parse().ok()?),
            None => None,
        };
        if fields.next().is_some() {
            return None;
        }
        Some(Hasher {
            sha256: Sha256::deserialize(&SerializedState::<Sha256>::try_from(&sha[..]).ok()?)
                .ok()?,
            md5: Md5::deserialize(&SerializedState::<Md5>::try_from(&md5[..]).ok()?).ok()?,
            crc32c,
            size,
        })
    }

    pub fn finish(self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(self.md5.finalize()),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_the_known_values_whatever_the_chunking() {
        let mut h = Hasher::new();
        for chunk in [&b"ab"[..], b"", b"c"] {
            h.update(chunk);
        }
        let d = h.finish();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d.size, 3);
    }

    #[test]
    fn a_saved_state_hashes_on_as_if_never_stopped() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = Hasher::new();
        whole.update(&data);
        let expected = whole.finish();
        // Cut anywhere, block-aligned or not.
        for cut in [0, 1, 63, 64, 65, 4096, 9_999, 10_000] {
            let mut first = Hasher::new();
            first.update(&data[..cut]);
            let mut resumed = Hasher::resume(&first.state()).expect("a saved state");
            assert_eq!(resumed.size(), cut as u64);
            resumed.update(&data[cut..]);
            assert_eq!(
                resumed.crc32c(),
                Some(crc32c::crc32c(&data)),
                "cut at {cut}"
            );
            assert_eq!(resumed.finish(), expected, "cut at {cut}");
        }
    }

    #[test]
    fn a_state_saved_without_the_crc32c_resumes_without_it() {
        let mut h = Hasher::new();
        h.update(b"abc");
        let state = h.state();
        let old = &state[..state.rfind(':').unwrap()];
        let resumed = Hasher::resume(old).expect("an older state");
        assert_eq!(resumed.crc32c(), None);
        assert_eq!(resumed.finish(), h.finish());
    }

    #[test]
    fn a_damaged_state_is_refused() {
        let good = Hasher::new().state();
        for bad in [
            "",
            "x",
            "0:abc:def",
            &good[..good.len() - 4],
            &format!("{good}:1"),
        ] {
            assert!(Hasher::resume(bad).is_none(), "{bad:?}");
        }
    }
}
