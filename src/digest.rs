//! Hashing while bytes stream past: SHA-256, MD5 and the byte count in one
//! pass, so a checksum never needs a second read.

use md5::Md5;
use sha2::{Digest, Sha256};

/// Running hashes of a stream.
#[derive(Clone, Default)]
pub struct Hasher {
    sha256: Sha256,
    md5: Md5,
    size: u64,
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
        self.size += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
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
}
