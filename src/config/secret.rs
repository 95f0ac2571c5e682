//! Secret strings: tokens, keys and passwords read from the config.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string: shown as `***` in Debug, Display and printed config.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is compared or sent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn redacted(&self) -> Secret {
        if self.0.is_empty() {
            Secret::default()
        } else {
            Secret("***".to_owned())
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}
