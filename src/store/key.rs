//! Object keys: a template of placeholders, each filled with a sanitized fact.

use chrono::{Datelike, Timelike};

use super::facts::ObjectFacts;
use crate::event::FileKind;

/// The default object key layout.
pub const DEFAULT_KEY_TEMPLATE: &str =
    "{kind}/{domain}/{app}/{stream}/{yyyy}/{mm}/{dd}/{start}-{filename}";

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
    Start,
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
                "start" => Var::Start,
                "job_id" => Var::JobId,
                other => {
                    return Err(format!(
                    "unknown placeholder {{{other}}} (known: kind, source, provider, domain, app, \
                         stream, format, filename, yyyy, mm, dd, hh, start, job_id)"
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

    /// The beginnings every key rendered from this template shares: its
    /// literal start, with each `{kind}` before any other placeholder
    /// spelled out. Uploads under them are this archive's.
    pub fn fixed_prefixes(&self) -> Vec<String> {
        let mut prefixes = vec![String::new()];
        for p in &self.0 {
            match p {
                Part::Literal(l) => prefixes.iter_mut().for_each(|x| x.push_str(l)),
                Part::Var(Var::Kind) => {
                    prefixes = prefixes
                        .iter()
                        .flat_map(|x| ["recording", "snapshot"].map(|k| format!("{x}{k}")))
                        .collect();
                }
                Part::Var(_) => break,
            }
        }
        prefixes
            .into_iter()
            .map(|x| x.trim_start_matches('/').to_owned())
            .collect()
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
                            FileKind::Notification => "notification".to_owned(),
                        },
                        Var::Source => f.source.clone(),
                        Var::Provider => f.provider.clone(),
                        Var::Domain => f.stream.domain.clone().unwrap_or_default(),
                        Var::App => f.stream.app.clone().unwrap_or_default(),
                        Var::Stream => f.stream.name.clone().unwrap_or_default(),
                        Var::Format => f.file.format.clone().unwrap_or_default(),
                        Var::Filename => f.filename.clone(),
                        Var::Yyyy => format!("{:04}", f.at.year()),
                        Var::Mm => format!("{:02}", f.at.month()),
                        Var::Dd => format!("{:02}", f.at.day()),
                        Var::Hh => format!("{:02}", f.at.hour()),
                        Var::Start => f.at.format("%Y%m%dT%H%M%SZ").to_string(),
                        Var::JobId => f.job_id.to_string(),
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

#[cfg(test)]
mod tests {
    use super::super::facts::tests::facts;
    use super::*;

    fn key(stream: &str, filename: &str) -> String {
        KeyTemplate::parse(DEFAULT_KEY_TEMPLATE)
            .unwrap()
            .render(&facts(stream, filename))
    }

    #[test]
    fn the_default_template_files_by_kind_stream_and_date() {
        assert_eq!(
            key("350802", "a.flv"),
            "recording/push.example.com/live/350802/2019/03/28/20190328T025733Z-a.flv"
        );
    }

    #[test]
    fn hostile_stream_names_stay_inside_their_segment() {
        for (stream, expected) in [
            (
                "../../etc",
                "recording/push.example.com/live/.._.._etc/2019/03/28/20190328T025733Z-a.flv",
            ),
            (
                "/abs",
                "recording/push.example.com/live/_abs/2019/03/28/20190328T025733Z-a.flv",
            ),
            (
                "..",
                "recording/push.example.com/live/_/2019/03/28/20190328T025733Z-a.flv",
            ),
            (
                "a\0b\nc",
                "recording/push.example.com/live/abc/2019/03/28/20190328T025733Z-a.flv",
            ),
            (
                "",
                "recording/push.example.com/live/_/2019/03/28/20190328T025733Z-a.flv",
            ),
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
    fn fixed_prefixes_spell_out_the_kind_and_stop_at_other_placeholders() {
        let t = |s: &str| KeyTemplate::parse(s).unwrap().fixed_prefixes();
        assert_eq!(t(DEFAULT_KEY_TEMPLATE), ["recording/", "snapshot/"]);
        assert_eq!(
            t("/archive/{kind}-{app}/{filename}"),
            ["archive/recording-", "archive/snapshot-"]
        );
        assert_eq!(t("{app}/{kind}/{filename}"), [""]);
        assert_eq!(t("live/{filename}"), ["live/"]);
    }
}
