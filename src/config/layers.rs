//! Layering as TOML values: the file's table is merged over the defaults',
//! then each `RECORDING_ARCHIVER__SECTION__KEY` variable is set into it.

use super::{ConfigError, CLI_ENV_VARS, ENV_PREFIX};

/// Overlays `over` onto `base`: tables merge key by key, anything else
/// replaces. A table that switches its `type` (`[store] type = "s3"` over the
/// default fs store) replaces the default whole: their keys differ.
pub(super) fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if o.get("type").is_none_or(|t| Some(t) == b.get("type")) =>
            {
                merge(b, o)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Applies `RECORDING_ARCHIVER__SERVER__LISTEN=...`. Array elements are named
/// by index or, for sources, by name: `RECORDING_ARCHIVER__SOURCES__JD__TOKEN`.
pub(super) fn apply_env(
    table: &mut toml::Table,
    var: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let env_err = |message: String| ConfigError::Env {
        var: var.to_owned(),
        message,
    };
    if path.iter().any(String::is_empty) {
        return Err(env_err("empty path segment".to_owned()));
    }
    let mut root = toml::Value::Table(std::mem::take(table));
    let result = set_path(&mut root, &path, value).map_err(env_err);
    if let toml::Value::Table(t) = root {
        *table = t;
    }
    result
}

fn set_path(node: &mut toml::Value, path: &[String], value: &str) -> Result<(), String> {
    let (seg, rest) = path.split_first().ok_or("empty path")?;
    match node {
        toml::Value::Table(t) if rest.is_empty() => {
            let typed = typed_like(t.get(seg.as_str()), value)?;
            t.insert(seg.clone(), typed);
            Ok(())
        }
        toml::Value::Table(t) => set_path(
            t.entry(seg.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            rest,
            value,
        ),
        toml::Value::Array(items) if !rest.is_empty() => {
            let i = element_index(items, seg)
                .ok_or_else(|| format!("no element {seg:?} in that list"))?;
            set_path(&mut items[i], rest, value)
        }
        _ => Err(format!("{seg:?} is not a section")),
    }
}

/// Keeps the type the key already has; new keys are strings (tokens, names).
fn typed_like(existing: Option<&toml::Value>, value: &str) -> Result<toml::Value, String> {
    let v = value.trim();
    Ok(match existing {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            v.parse()
                .map_err(|_| format!("{value:?} is not an integer"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
            v.parse()
                .map_err(|_| format!("{value:?} is not true or false"))?,
        ),
        Some(toml::Value::Float(_)) => toml::Value::Float(
            v.parse()
                .map_err(|_| format!("{value:?} is not a number"))?,
        ),
        _ => toml::Value::String(value.to_owned()),
    })
}

/// An array element by index, or by its `name` (case-insensitive).
fn element_index(items: &[toml::Value], seg: &str) -> Option<usize> {
    if let Ok(i) = seg.parse::<usize>() {
        return (i < items.len()).then_some(i);
    }
    items.iter().position(|item| {
        item.get("name")
            .and_then(|n| n.as_str())
            .is_some_and(|n| n.eq_ignore_ascii_case(seg))
    })
}

/// Why `var` (already applied) made the configuration unreadable, naming
/// the key it set: `unknown key server.listne (did you mean server.listen?)`.
pub(super) fn env_error(var: &str, e: &toml::de::Error) -> ConfigError {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let key = path.join(".");
    let message = e.message();
    let message = match unknown_field(message) {
        Some((field, expected)) => {
            let parent = key.strip_suffix(field.as_str()).unwrap_or("");
            match closest(&field, &expected) {
                Some(m) => format!("unknown key {key} (did you mean {parent}{m}?)"),
                None if expected.is_empty() => format!("unknown key {key}"),
                None => format!("unknown key {key}; known there: {}", expected.join(", ")),
            }
        }
        None => format!("key {key}: {message}"),
    };
    ConfigError::Env {
        var: var.to_owned(),
        message,
    }
}

/// The field and the expected ones of serde's "unknown field `x`, expected
/// one of `a`, `b`" (or "expected `a`", or "there are no fields").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).map(str::to_owned);
    Some((field.to_owned(), expected.collect()))
}

/// The expected name nearest `typed`, if it is a likely slip (at most two
/// edits, and fewer than half the letters).
fn closest<'a>(typed: &str, expected: &'a [String]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| (edits(typed, e), e))
        .filter(|(d, e)| *d <= 2 && *d * 2 < e.len().max(typed.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e.as_str())
}

/// Levenshtein distance, by characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != *cb)).min(up + 1).min(row[j] + 1);
            diag = up;
        }
    }
    row[b.len()]
}

/// Warnings for variables that look meant for the daemon but are not read:
/// `RECORDING_ARCHIVER_SERVER_LISTEN` (single underscores), with the spelling
/// that works. The CLI's own variables ([`CLI_ENV_VARS`]) are left alone.
pub(super) fn misspelt_env(
    vars: impl IntoIterator<Item = (String, String)>,
    sections: &[String],
) -> Vec<String> {
    const LOOSE: &str = "RECORDING_ARCHIVER_";
    let mut found: Vec<String> = vars
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with(LOOSE)
                && !k.starts_with(ENV_PREFIX)
                && !CLI_ENV_VARS.contains(&k.as_str())
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|var| {
            let rest = var[LOOSE.len()..].to_ascii_lowercase();
            let meant = sections.iter().find_map(|s| {
                if rest == *s {
                    Some(format!("{ENV_PREFIX}{}", s.to_ascii_uppercase()))
                } else if s == "sources" || s == "notify" {
                    rest.strip_prefix(&format!("{s}_"))
                        .map(|_| format!("{ENV_PREFIX}{}__<NAME>__<KEY>", s.to_ascii_uppercase()))
                } else {
                    rest.strip_prefix(&format!("{s}_")).map(|key| {
                        format!(
                            "{ENV_PREFIX}{}__{}",
                            s.to_ascii_uppercase(),
                            key.to_ascii_uppercase()
                        )
                    })
                }
            });
            let meant = meant.unwrap_or_else(|| format!("{ENV_PREFIX}<SECTION>__<KEY>"));
            format!(
                "environment variable {var} is ignored: the daemon reads overrides spelled \
                 with double underscores, {meant}"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::tests::file;
    use crate::config::Config;

    #[test]
    fn environment_overrides_the_file_keeping_types() {
        let f = file("[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\ntoken = \"a\"\n");
        let env = [
            (
                "RECORDING_ARCHIVER__SERVER__MAX_BODY_BYTES".to_owned(),
                "2048".to_owned(),
            ),
            (
                "RECORDING_ARCHIVER__SOURCES__JD__TOKEN".to_owned(),
                "12345".to_owned(),
            ),
            (
                "RECORDING_ARCHIVER__STATE__DIR".to_owned(),
                "/tmp/x".to_owned(),
            ),
        ];
        let c = Config::load_with_env(Some(f.path()), env).unwrap();
        assert_eq!(c.server.max_body_bytes, 2048);
        assert_eq!(c.sources[0].token.expose(), "12345");
        assert_eq!(c.state.dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = [(
            "RECORDING_ARCHIVER__SERVER__MAX_BODY_BYTES".to_owned(),
            "lots".to_owned(),
        )];
        let e = Config::load_with_env(None, env).unwrap_err().to_string();
        assert!(
            e.contains("RECORDING_ARCHIVER__SERVER__MAX_BODY_BYTES"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod env_tests {
    use super::misspelt_env;
    use crate::config::tests::file;
    use crate::config::Config;

    #[test]
    fn an_unknown_environment_key_names_the_variable_and_the_key() {
        let env = [(
            "RECORDING_ARCHIVER__SERVER__LISTNE".to_owned(),
            "127.0.0.1:1".to_owned(),
        )];
        let e = Config::load_with_env(None, env).unwrap_err().to_string();
        assert!(e.contains("RECORDING_ARCHIVER__SERVER__LISTNE"), "{e}");
        assert!(
            e.contains("unknown key server.listne (did you mean server.listen?)"),
            "{e}"
        );
    }

    #[test]
    fn a_source_key_from_the_environment_is_named_with_its_path() {
        let f = file("[[sources]]\nname = \"jd\"\n");
        let env = [(
            "RECORDING_ARCHIVER__SOURCES__JD__TOKNE".to_owned(),
            "x".to_owned(),
        )];
        let e = Config::load_with_env(Some(f.path()), env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown key sources.jd.tokne (did you mean sources.jd.token?)"),
            "{e}"
        );
    }

    #[test]
    fn single_underscores_are_warned_of_with_the_spelling_that_works() {
        let sections: Vec<String> = ["server", "sources", "instance_id"]
            .map(str::to_owned)
            .to_vec();
        let vars = [
            "RECORDING_ARCHIVER_SERVER_MAX_BODY_BYTES",
            "RECORDING_ARCHIVER_API_TOKEN",
            "RECORDING_ARCHIVER_STATE_COPY_TO",
            "RECORDING_ARCHIVER__SERVER__LISTEN",
            "RECORDING_ARCHIVER_SOURCES_JD_TOKEN",
            "RECORDING_ARCHIVER_INSTANCE_ID",
        ]
        .map(|v| (v.to_owned(), String::new()));
        let w = misspelt_env(vars, &sections);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("RECORDING_ARCHIVER_INSTANCE_ID is ignored"),
            "{w:?}"
        );
        assert!(w[0].ends_with("RECORDING_ARCHIVER__INSTANCE_ID"), "{w:?}");
        assert!(
            w[1].ends_with("RECORDING_ARCHIVER__SERVER__MAX_BODY_BYTES"),
            "{w:?}"
        );
        assert!(
            w[2].ends_with("RECORDING_ARCHIVER__SOURCES__<NAME>__<KEY>"),
            "{w:?}"
        );
    }
}
