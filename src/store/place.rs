//! Where a file goes without overwriting another: its key, or, when an
//! object is already there, the first free variant of it (`a.flv`,
//! `a~2.flv`, `a~3.flv`, ...). An object already holding the very same
//! bytes (same SHA-256) is the file's home: no second copy is made.

use crate::retry::Failure;

/// The most variants of one key tried before giving up for this attempt.
const MAX_VARIANTS: u32 = 100;

/// The key a file will be written to, and the objects found in its way.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The first free variant of the key.
    pub key: String,
    /// Variants already taken, with the SHA-256 each records (if any).
    taken: Vec<(String, Option<String>)>,
}

impl Placement {
    /// Finds the first free variant of `key`; `lookup` tells, for a key,
    /// whether an object is there (`Some`) and the SHA-256 it records.
    pub async fn find<F, Fut>(key: &str, lookup: F) -> Result<Placement, Failure>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<Option<String>>, Failure>>,
    {
        let mut taken = Vec::new();
        for n in 1..=MAX_VARIANTS {
            let candidate = variant(key, n);
            match lookup(candidate.clone()).await? {
                None => {
                    return Ok(Placement {
                        key: candidate,
                        taken,
                    })
                }
                Some(sha) => taken.push((candidate, sha)),
            }
        }
        Err(Failure::transient(format!(
            "{MAX_VARIANTS} objects already hold {key} and its variants"
        )))
    }

    /// An object found in the way that holds exactly these bytes.
    pub fn same_bytes(&self, sha256: &str) -> Option<&str> {
        self.taken
            .iter()
            .find(|(_, sha)| sha.as_deref() == Some(sha256))
            .map(|(k, _)| k.as_str())
    }
}

/// The `n`th variant of `key`: `~n` before the file name's extension.
pub fn variant(key: &str, n: u32) -> String {
    if n <= 1 {
        return key.to_owned();
    }
    let (dir, name) = match key.rsplit_once('/') {
        Some((d, f)) => (format!("{d}/"), f),
        None => (String::new(), key),
    };
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem}~{n}.{ext}"),
        _ => format!("{dir}{name}~{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_keep_the_extension_and_the_directory() {
        assert_eq!(variant("a/b/rec.flv", 1), "a/b/rec.flv");
        assert_eq!(variant("a/b/rec.flv", 2), "a/b/rec~2.flv");
        assert_eq!(variant("a/b.d/playlist", 3), "a/b.d/playlist~3");
        assert_eq!(variant(".hidden", 2), ".hidden~2");
    }

    #[tokio::test]
    async fn the_first_free_variant_is_chosen_and_same_bytes_are_found() {
        let taken = |k: String| async move {
            Ok(match k.as_str() {
                "r.flv" => Some(Some("aaa".to_owned())),
                "r~2.flv" => Some(None),
                _ => None,
            })
        };
        let p = Placement::find("r.flv", taken).await.unwrap();
        assert_eq!(p.key, "r~3.flv");
        assert_eq!(p.same_bytes("aaa"), Some("r.flv"));
        assert_eq!(p.same_bytes("bbb"), None);
    }
}
