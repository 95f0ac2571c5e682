//! Comparing a secret a caller presents (a callback token, the API's bearer
//! token, a platform's signature) with the one we hold.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// True when `presented` equals `expected`, in a time that tells a caller
/// nothing: both are hashed first, so not even the length leaks, and the
/// digests are compared in constant time.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3creT"));
        assert!(
            !same_secret("s3cre", "s3cret"),
            "a prefix is not the secret"
        );
        assert!(!same_secret("", "s3cret"));
        assert!(same_secret("", ""));
    }
}
