//! The block the daemon prints once serving: where the UI, the state, the
//! archive and the configuration are, and which sources take callbacks.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::{Config, StoreConfig};

/// The block, one `  name: value` line each, after a heading.
pub fn describe(config: &Config, listening: &[SocketAddr]) -> String {
    let ui = match listening.first() {
        Some(a) if a.ip().is_unspecified() => format!(
            "http://127.0.0.1:{}/ui/ (this machine's every address, port {})",
            a.port(),
            a.port()
        ),
        Some(a) => format!("http://{a}/ui/"),
        None => format!("http://{}/ui/", config.server.listen),
    };
    let state = if config.state.url.is_empty() {
        absolute(&config.state.dir)
    } else {
        postgres(config.state.url.expose())
    };
    let archive = match &config.store {
        StoreConfig::Fs { root, .. } => absolute(root),
        StoreConfig::S3 {
            bucket, endpoint, ..
        } => match endpoint {
            Some(e) => format!("s3://{bucket}/ at {}", without_credentials(e)),
            None => format!("s3://{bucket}/ (AWS)"),
        },
    };
    let sources: Vec<String> = config
        .sources
        .iter()
        .map(|s| format!("{} ({})", s.name, s.provider))
        .collect();
    let sources = if sources.is_empty() {
        "none: every callback is answered 404 (add [[sources]])".to_owned()
    } else {
        sources.join(", ")
    };
    let mut block = format!(
        "recording-archiver is serving\n  web UI:  {ui}\n  state:   {state}\n  \
         archive: {archive}\n  config:  {}\n  sources: {}",
        config
            .file
            .as_deref()
            .map_or_else(|| config.origin(), absolute),
        sources
    );
    if config.file.is_some() && config.source("default").is_none() {
        block.push_str(
            "\n  note:    no source `default`: the [[sources]] of the config file replace \
             the built-in one, so callbacks to /callbacks/default get 404",
        );
    }
    block
}

/// `path` from the root, as the daemon resolves it.
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// "PostgreSQL at host:port/db": never the user or the password.
fn postgres(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "PostgreSQL at {}{}{}",
            u.host_str().unwrap_or("localhost"),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "PostgreSQL ([state] url)".to_owned(),
    }
}

/// An endpoint URL without any user or password it carries.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::postgres;

    #[test]
    fn a_database_is_named_without_its_password() {
        let s =
            postgres("postgres://archiver:hunter2@db.example.com:5432/archiver?sslmode=require");
        assert_eq!(s, "PostgreSQL at db.example.com:5432/archiver");
    }
}
