//! `[api]`: the read/admin API.

use serde::{Deserialize, Serialize};

use super::Secret;

/// `[api]`: the read/admin API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub token: Secret,
}
