//! Layering as TOML values: the file's table is merged over the defaults',
//! then each `RECORDING_ARCHIVER__SECTION__KEY` variable is set into it.

use super::{ConfigError, ENV_PREFIX};

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
