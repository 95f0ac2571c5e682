//! Requests we could not understand, kept whole so they can be replayed once
//! the parsers learn their format. Nothing a platform sent is thrown away.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{EventId, RejectedId};
use crate::providers::Provider;
use crate::time::{serde_rfc3339, Timestamp};

/// A callback answered 400, as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRequest {
    pub id: RejectedId,
    pub source: String,
    /// The provider the source is configured for.
    pub provider: Provider,
    #[serde(with = "serde_rfc3339")]
    pub received_at: Timestamp,
    pub method: String,
    /// The query string, without our `token`.
    pub query: String,
    /// The headers that matter for replaying (content type, user agent, signatures, forwarding).
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub remote_addr: Option<String>,
    /// The body as text when it is UTF-8 ...
    #[serde(default)]
    pub body: Option<String>,
    /// ... else as hex, so that nothing is lost.
    #[serde(default)]
    pub body_hex: Option<String>,
    /// Why it was refused.
    pub error_code: String,
    pub error: String,
    /// Set once a replay parsed it: the events it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_as: Option<Vec<EventId>>,
}

impl RejectedRequest {
    /// The body bytes as received.
    pub fn body_bytes(&self) -> Vec<u8> {
        match (&self.body, &self.body_hex) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(hex)) => hex::decode(hex).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }
}

impl RejectedRequest {
    /// The request as the API shows it: signatures (in headers, the query
    /// or the body, whatever its encoding) hidden, since none is bound to
    /// the body and a shown one could sign other bodies. Replays use the
    /// kept original.
    pub fn shown(mut self) -> RejectedRequest {
        use crate::body::redact::{is_signature_header, redact};
        for (name, value) in &mut self.headers {
            if is_signature_header(name) {
                *value = "***".to_owned();
            }
        }
        self.query = redact(&self.query);
        self.body = self.body.map(|b| redact(&b));
        self
    }
}
