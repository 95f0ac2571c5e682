//! The facts about one archived file that its key and its object metadata
//! are made of.

use std::collections::BTreeMap;

use crate::event::FileKind;
use crate::event::{FileFacts, StreamRef};
use crate::id::{EventId, JobId};
use crate::time::{rfc3339, Timestamp};

/// The facts a key and the object metadata are made of.
#[derive(Debug, Clone)]
pub struct ObjectFacts {
    pub kind: FileKind,
    pub source: String,
    pub provider: String,
    pub stream: StreamRef,
    pub file: FileFacts,
    pub filename: String,
    /// The file's start (else its end, else the event's time): the key's
    /// date and `{start}`.
    pub at: Timestamp,
    pub job_id: JobId,
    pub event_id: EventId,
}

impl ObjectFacts {
    /// User metadata for the object (values made header-safe).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), header_safe(v));
            }
        };
        put("source", Some(&self.source));
        put("provider", Some(&self.provider));
        put("domain", self.stream.domain.as_deref());
        put("app", self.stream.app.as_deref());
        put("stream", self.stream.name.as_deref());
        let time = |t: Option<Timestamp>| t.as_ref().map(rfc3339);
        put("started-at", time(self.file.started_at).as_deref());
        put("ended-at", time(self.file.ended_at).as_deref());
        put("job-id", Some(&self.job_id.to_string()));
        put("event-id", Some(&self.event_id.to_string()));
        m
    }
}

/// Metadata travels in HTTP headers: printable ASCII only, the rest percent-encoded.
fn header_safe(v: &str) -> String {
    // CONTROLS is 0x00-0x1F and 0x7F; bytes past ASCII are always encoded.
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
    percent_encoding::utf8_percent_encode(v, UNSAFE).to_string()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A JD Cloud recording of `stream`, started 2019-03-28 02:57:33 UTC.
    pub(in crate::store) fn facts(stream: &str, filename: &str) -> ObjectFacts {
        ObjectFacts {
            kind: FileKind::Recording,
            source: "jd".into(),
            provider: "jdcloud".into(),
            stream: StreamRef {
                domain: Some("push.example.com".into()),
                app: Some("live".into()),
                name: Some(stream.into()),
            },
            file: FileFacts {
                format: Some("flv".into()),
                ..FileFacts::default()
            },
            filename: filename.into(),
            at: chrono::Utc
                .with_ymd_and_hms(2019, 3, 28, 2, 57, 33)
                .unwrap(),
            job_id: JobId::default(),
            event_id: EventId::default(),
        }
    }

    #[test]
    fn metadata_values_are_header_safe() {
        let m = facts("直播", "a.flv").metadata();
        assert!(m["stream"].is_ascii());
        assert_eq!(m["stream"], "%E7%9B%B4%E6%92%AD");
    }
}
