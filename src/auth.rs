//! Comparing a secret a caller presents (a callback token, the API's bearer
//! token, a platform's signature) with the one we hold; making new ones.

pub mod token_file;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` bytes from the kernel's CSPRNG, as lower-case hex (2n characters):
/// API tokens and UI session ids.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let got = unsafe {
            libc::getrandom(
                buf[filled..].as_mut_ptr().cast(),
                n - filled,
                0, // blocks only until the pool is first seeded, at boot
            )
        };
        if got < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        filled += got as usize;
    }
    Ok(hex::encode(buf))
}

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

    #[test]
    fn random_hex_is_as_long_as_asked_and_never_repeats() {
        let a = random_hex(32).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(32).unwrap());
    }
}
