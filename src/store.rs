//! Where archived bytes go: an S3 bucket or a local directory, behind one
//! interface, with object keys built from a template of sanitized facts.

pub mod fs;
pub mod s3;

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{Datelike, Timelike};

use crate::catalog::StoredAt;
use crate::config::{Config, StoreConfig, TransferConfig};
use crate::failure::Failure;
use crate::queue::{FileKind, UploadRecord};
use crate::time::{rfc3339, Timestamp};

/// The facts a key and the object metadata are made of.
#[derive(Debug, Clone)]
pub struct ObjectFacts {
    pub kind: FileKind,
    pub source: String,
    pub provider: String,
    pub domain: Option<String>,
    pub app: Option<String>,
    pub stream: Option<String>,
    pub format: Option<String>,
    pub filename: String,
    /// The recording's start (or the event's time): the key's date.
    pub at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub job_id: String,
    pub event_id: String,
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
        put("domain", self.domain.as_deref());
        put("app", self.app.as_deref());
        put("stream", self.stream.as_deref());
        put(
            "started-at",
            self.started_at.as_ref().map(rfc3339).as_deref(),
        );
        put("ended-at", self.ended_at.as_ref().map(rfc3339).as_deref());
        put("job-id", Some(&self.job_id));
        put("event-id", Some(&self.event_id));
        m
    }
}

/// Metadata travels in HTTP headers: printable ASCII only, the rest percent-encoded.
fn header_safe(v: &str) -> String {
    // CONTROLS is 0x00-0x1F and 0x7F; bytes past ASCII are always encoded.
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
    percent_encoding::utf8_percent_encode(v, UNSAFE).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Kind,
    Source,
    Provider,
    Domain,
    App,
    Stream,
    Format,
    Filename,
    Yyyy,
    Mm,
    Dd,
    Hh,
    JobId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

/// A parsed `key_template` such as `{kind}/{domain}/{app}/{stream}/{yyyy}/{mm}/{dd}/{filename}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate(Vec<Part>);

impl KeyTemplate {
    /// Parses a template; the error names the bad placeholder.
    pub fn parse(t: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {t:?}"))?;
            let name = &rest[open + 1..open + close];
            let var = match name {
                "kind" => Var::Kind,
                "source" => Var::Source,
                "provider" => Var::Provider,
                "domain" => Var::Domain,
                "app" => Var::App,
                "stream" => Var::Stream,
                "format" => Var::Format,
                "filename" => Var::Filename,
                "yyyy" => Var::Yyyy,
                "mm" => Var::Mm,
                "dd" => Var::Dd,
                "hh" => Var::Hh,
                "job_id" => Var::JobId,
                other => {
                    return Err(format!(
                    "unknown placeholder {{{other}}} (known: kind, source, provider, domain, app, \
                         stream, format, filename, yyyy, mm, dd, hh, job_id)"
                ))
                }
            };
            parts.push(Part::Var(var));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if !parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::Filename) | Part::Var(Var::JobId)))
        {
            return Err(
                "must contain {filename} or {job_id}, or every file would get the same key"
                    .to_owned(),
            );
        }
        for p in &parts {
            if let Part::Literal(l) = p {
                if l.split('/').any(|seg| seg == "..") || l.chars().any(char::is_control) {
                    return Err(format!(
                        "literal text {l:?} may not contain '..' segments or control characters"
                    ));
                }
            }
        }
        Ok(KeyTemplate(parts))
    }

    /// Renders the key; every placeholder value is sanitized first.
    pub fn render(&self, f: &ObjectFacts) -> String {
        let mut key = String::new();
        for p in &self.0 {
            match p {
                Part::Literal(l) => key.push_str(l),
                Part::Var(v) => {
                    let value = match v {
                        Var::Kind => match f.kind {
                            FileKind::Recording => "recording".to_owned(),
                            FileKind::Snapshot => "snapshot".to_owned(),
                        },
                        Var::Source => f.source.clone(),
                        Var::Provider => f.provider.clone(),
                        Var::Domain => f.domain.clone().unwrap_or_default(),
                        Var::App => f.app.clone().unwrap_or_default(),
                        Var::Stream => f.stream.clone().unwrap_or_default(),
                        Var::Format => f.format.clone().unwrap_or_default(),
                        Var::Filename => f.filename.clone(),
                        Var::Yyyy => format!("{:04}", f.at.year()),
                        Var::Mm => format!("{:02}", f.at.month()),
                        Var::Dd => format!("{:02}", f.at.day()),
                        Var::Hh => format!("{:02}", f.at.hour()),
                        Var::JobId => f.job_id.clone(),
                    };
                    key.push_str(&sanitize_component(&value));
                }
            }
        }
        let key = key.trim_start_matches('/');
        if key.is_empty() {
            "_".to_owned()
        } else {
            key.to_owned()
        }
    }
}

/// The longest a single placeholder value may become, in bytes.
const MAX_COMPONENT: usize = 200;

/// Makes a value safe as one key segment: no path separators, no `..`, no
/// control characters, not empty, not overlong.
pub fn sanitize_component(v: &str) -> String {
    let mut out: String = v
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    if out.len() > MAX_COMPONENT {
        let mut cut = MAX_COMPONENT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    if out.is_empty() || out.chars().all(|c| c == '.') {
        return "_".to_owned();
    }
    out
}

/// An archive store.
pub enum Store {
    Fs(fs::FsStore),
    S3(s3::S3Store),
}

impl Store {
    /// Opens the configured store.
    pub async fn open(config: &Config) -> Result<Store, String> {
        let template = KeyTemplate::parse(config.store.key_template())?;
        Ok(match &config.store {
            StoreConfig::Fs { root, .. } => Store::Fs(fs::FsStore::new(root.clone(), template)),
            StoreConfig::S3 { .. } => {
                Store::S3(s3::S3Store::open(&config.store, &config.transfer, template).await?)
            }
        })
    }

    /// The key a file with these facts is stored under.
    pub fn key_for(&self, facts: &ObjectFacts) -> String {
        match self {
            Store::Fs(s) => s.template.render(facts),
            Store::S3(s) => s.template.render(facts),
        }
    }

    /// Where `key` is, as the catalog records it.
    pub fn stored_at(&self, key: &str) -> StoredAt {
        match self {
            Store::Fs(s) => StoredAt::Fs {
                path: s.path_of(key).to_string_lossy().into_owned(),
            },
            Store::S3(s) => StoredAt::S3 {
                bucket: s.bucket().to_owned(),
                key: key.to_owned(),
            },
        }
    }

    /// Starts writing `key`. `size_hint` is the origin's Content-Length.
    pub async fn begin(
        &self,
        key: String,
        size_hint: Option<u64>,
        facts: &ObjectFacts,
        transfer: &TransferConfig,
    ) -> Result<Upload, Failure> {
        Ok(match self {
            Store::Fs(s) => Upload::Fs(s.begin(key, &facts.job_id).await?),
            Store::S3(s) => Upload::S3(s.begin(key, size_hint, facts.metadata(), transfer)),
        })
    }

    /// Aborts an upload a previous run left behind (crash recovery).
    pub async fn abort_stale(&self, rec: &UploadRecord) {
        if let Store::S3(s) = self {
            s.abort_stale(rec).await;
        }
    }

    /// Checks that the store answers (S3: HeadBucket), saying what is wrong if not.
    pub async fn check(&self) -> Result<(), String> {
        match self {
            Store::Fs(s) => s.check().await,
            Store::S3(s) => s.check().await,
        }
    }
}

/// An object being written.
pub enum Upload {
    Fs(fs::FsUpload),
    S3(s3::S3Upload),
}

impl Upload {
    /// Appends bytes; may wait for earlier parts to upload (bounded memory).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Failure> {
        match self {
            Upload::Fs(u) => u.write(&chunk).await,
            Upload::S3(u) => u.write(chunk).await,
        }
    }

    /// A multipart upload that started since the last call, to persist with the job.
    pub fn take_started(&mut self) -> Option<UploadRecord> {
        match self {
            Upload::Fs(_) => None,
            Upload::S3(u) => u.take_started(),
        }
    }

    /// Completes the object with its final metadata and the catalog sidecar.
    pub async fn finish(
        self,
        metadata: BTreeMap<String, String>,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        match self {
            Upload::Fs(u) => u.finish(sidecar).await,
            Upload::S3(u) => u.finish(metadata, sidecar).await,
        }
    }

    /// Gives up: nothing is left behind.
    pub async fn abort(self) {
        match self {
            Upload::Fs(u) => u.abort().await,
            Upload::S3(u) => u.abort().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts(stream: &str, filename: &str) -> ObjectFacts {
        ObjectFacts {
            kind: FileKind::Recording,
            source: "jd".into(),
            provider: "jdcloud".into(),
            domain: Some("push.example.com".into()),
            app: Some("live".into()),
            stream: Some(stream.into()),
            format: Some("flv".into()),
            filename: filename.into(),
            at: chrono::Utc
                .with_ymd_and_hms(2019, 3, 28, 2, 57, 33)
                .unwrap(),
            started_at: None,
            ended_at: None,
            job_id: "j1".into(),
            event_id: "e1".into(),
        }
    }

    fn key(stream: &str, filename: &str) -> String {
        KeyTemplate::parse(crate::config::DEFAULT_KEY_TEMPLATE)
            .unwrap()
            .render(&facts(stream, filename))
    }

    #[test]
    fn the_default_template_files_by_kind_stream_and_date() {
        assert_eq!(
            key("350802", "a.flv"),
            "recording/push.example.com/live/350802/2019/03/28/a.flv"
        );
    }

    #[test]
    fn hostile_stream_names_stay_inside_their_segment() {
        for (stream, expected) in [
            (
                "../../etc",
                "recording/push.example.com/live/.._.._etc/2019/03/28/a.flv",
            ),
            (
                "/abs",
                "recording/push.example.com/live/_abs/2019/03/28/a.flv",
            ),
            ("..", "recording/push.example.com/live/_/2019/03/28/a.flv"),
            (
                "a\0b\nc",
                "recording/push.example.com/live/abc/2019/03/28/a.flv",
            ),
            ("", "recording/push.example.com/live/_/2019/03/28/a.flv"),
        ] {
            let k = key(stream, "a.flv");
            assert_eq!(k, expected);
            assert!(!k.split('/').any(|s| s == ".."), "{k}");
        }
        assert!(key(&"x".repeat(5000), "a.flv").len() < 400);
    }

    #[test]
    fn templates_are_validated() {
        assert!(KeyTemplate::parse("{kind}/{nope}/{filename}")
            .unwrap_err()
            .contains("nope"));
        assert!(KeyTemplate::parse("{kind}").is_err());
        assert!(KeyTemplate::parse("../{filename}").is_err());
        assert!(KeyTemplate::parse("{filename").is_err());
    }

    #[test]
    fn metadata_values_are_header_safe() {
        let m = facts("直播", "a.flv").metadata();
        assert!(m["stream"].is_ascii());
        assert_eq!(m["stream"], "%E7%9B%B4%E6%92%AD");
    }
}
