//! Comparing secrets without telling, by timing, how much of a guess was right.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// True when `presented` equals `expected`, compared in constant time;
/// hashing first hides the length as well.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}
