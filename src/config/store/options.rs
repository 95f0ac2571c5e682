//! `[store]`'s object options: the storage class, encryption, retention
//! and tags every object an S3 store writes is given.

use std::collections::BTreeMap;

use super::super::{invalid, ConfigError};

/// What S3 accepts as a tag: at most 10 on an object, keys up to 128
/// characters, values up to 256, of letters, digits, spaces and `+-=._:/@`.
const MAX_TAGS: usize = 10;

/// The object options of an S3 store, as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectOptions {
    pub storage_class: Option<String>,
    pub sidecar_storage_class: Option<String>,
    pub server_side_encryption: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub object_lock_mode: Option<String>,
    pub object_lock_retain_days: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

impl ObjectOptions {
    /// Refuses what S3 would refuse on every request, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, class) in [
            ("store.storage_class", &self.storage_class),
            ("store.sidecar_storage_class", &self.sidecar_storage_class),
        ] {
            if let Some(c) = class {
                storage_class(key, c)?;
            }
        }
        match self.server_side_encryption.as_deref() {
            None | Some("AES256" | "aws:kms" | "aws:kms:dsse") => {}
            Some(other) => {
                return Err(invalid(
                    "store.server_side_encryption",
                    format!("{other:?} is not AES256, aws:kms or aws:kms:dsse"),
                ))
            }
        }
        let kms = self
            .server_side_encryption
            .as_deref()
            .is_some_and(|s| s.starts_with("aws:kms"));
        if self.sse_kms_key_id.is_some() && !kms {
            return Err(invalid(
                "store.sse_kms_key_id",
                "needs server_side_encryption = \"aws:kms\"",
            ));
        }
        match (&self.object_lock_mode, self.object_lock_retain_days) {
            (None, None) => {}
            (Some(m), Some(days)) => {
                if m != "GOVERNANCE" && m != "COMPLIANCE" {
                    return Err(invalid(
                        "store.object_lock_mode",
                        format!("{m:?} is not GOVERNANCE or COMPLIANCE"),
                    ));
                }
                if !(1..=36_500).contains(&days) {
                    return Err(invalid(
                        "store.object_lock_retain_days",
                        format!("{days} is not between 1 and 36500 days"),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(invalid(
                    "store.object_lock_retain_days",
                    "object_lock_mode needs how many days each object is retained",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "store.object_lock_mode",
                    "object_lock_retain_days needs a mode: GOVERNANCE or COMPLIANCE",
                ))
            }
        }
        self.validate_tags()
    }

    /// Sidecars in a class that must be restored before it is read: the
    /// catalog could not be rebuilt from them.
    pub fn warning(&self) -> Option<String> {
        let class = self
            .sidecar_storage_class
            .as_ref()
            .or(self.storage_class.as_ref())?;
        matches!(class.as_str(), "GLACIER" | "DEEP_ARCHIVE").then(|| {
            format!(
                "sidecars and manifests would be stored in {class}, which must be restored \
                 before `catalog rebuild` can read them; set store.sidecar_storage_class = \"STANDARD\""
            )
        })
    }

    fn validate_tags(&self) -> Result<(), ConfigError> {
        if self.tags.len() > MAX_TAGS {
            return Err(invalid(
                "store.tags",
                format!(
                    "{} tags; S3 keeps at most {MAX_TAGS} on an object",
                    self.tags.len()
                ),
            ));
        }
        let allowed = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
        };
        for (k, v) in &self.tags {
            let key = format!("store.tags.{k}");
            if k.is_empty() || k.chars().count() > 128 || !allowed(k) {
                return Err(invalid(
                    key,
                    "a tag key is 1 to 128 letters, digits, spaces or + - = . _ : / @",
                ));
            }
            if k.starts_with("aws:") {
                return Err(invalid(key, "tag keys starting with aws: are AWS's own"));
            }
            if v.chars().count() > 256 || !allowed(v) {
                return Err(invalid(
                    key,
                    "a tag value is up to 256 letters, digits, spaces or + - = . _ : / @",
                ));
            }
        }
        Ok(())
    }

    /// The tags as S3's `x-amz-tagging` header carries them, a query with
    /// every byte but the unreserved percent-encoded (a space as `%20`, not
    /// `+`); `None` without tags.
    pub fn tagging(&self) -> Option<String> {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        (!self.tags.is_empty()).then(|| {
            self.tags
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join("&")
        })
    }
}

/// A storage class as S3 spells them: capitals, digits and `_`.
fn storage_class(key: &str, class: &str) -> Result<(), ConfigError> {
    if !class.is_empty()
        && class
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Ok(());
    }
    let hint = if class.chars().any(|c| c.is_ascii_lowercase()) {
        format!(
            " (S3 spells it in capitals: {:?})",
            class.to_ascii_uppercase()
        )
    } else {
        String::new()
    };
    Err(invalid(
        key,
        format!("{class:?} is not a storage class such as STANDARD_IA, GLACIER_IR or DEEP_ARCHIVE{hint}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::ObjectOptions;

    fn err(o: ObjectOptions) -> String {
        o.validate().unwrap_err().to_string()
    }

    #[test]
    fn a_lower_case_class_is_refused_with_its_spelling() {
        let e = err(ObjectOptions {
            storage_class: Some("standard_ia".into()),
            ..Default::default()
        });
        assert!(
            e.contains("store.storage_class") && e.contains("\"STANDARD_IA\""),
            "{e}"
        );
    }

    #[test]
    fn a_kms_key_needs_kms_and_a_lock_needs_both_keys() {
        let e = err(ObjectOptions {
            sse_kms_key_id: Some("k".into()),
            ..Default::default()
        });
        assert!(e.contains("store.sse_kms_key_id"), "{e}");
        let e = err(ObjectOptions {
            object_lock_mode: Some("COMPLIANCE".into()),
            ..Default::default()
        });
        assert!(e.contains("store.object_lock_retain_days"), "{e}");
        let e = err(ObjectOptions {
            object_lock_mode: Some("compliance".into()),
            object_lock_retain_days: Some(30),
            ..Default::default()
        });
        assert!(e.contains("store.object_lock_mode"), "{e}");
        let ok = ObjectOptions {
            server_side_encryption: Some("aws:kms".into()),
            sse_kms_key_id: Some("arn:aws:kms:eu-west-1:1:key/x".into()),
            object_lock_mode: Some("GOVERNANCE".into()),
            object_lock_retain_days: Some(3650),
            ..Default::default()
        };
        ok.validate().unwrap();
    }

    #[test]
    fn sidecars_in_deep_archive_are_warned_of() {
        let mut o = ObjectOptions {
            storage_class: Some("DEEP_ARCHIVE".into()),
            ..Default::default()
        };
        assert!(o.warning().unwrap().contains("store.sidecar_storage_class"));
        o.sidecar_storage_class = Some("STANDARD".into());
        assert_eq!(o.warning(), None);
    }

    #[test]
    fn tags_are_checked_and_encoded_as_a_query() {
        let mut o = ObjectOptions::default();
        assert_eq!(o.tagging(), None);
        o.tags.insert("team".into(), "live ops".into());
        o.tags.insert("keep".into(), "7y".into());
        o.validate().unwrap();
        assert_eq!(o.tagging().as_deref(), Some("keep=7y&team=live%20ops"));
        o.tags.insert("aws:x".into(), "1".into());
        assert!(err(o.clone()).contains("store.tags.aws:x"));
        o.tags.remove("aws:x");
        o.tags.insert("bad".into(), "a&b".into());
        assert!(err(o).contains("store.tags.bad"));
    }
}
