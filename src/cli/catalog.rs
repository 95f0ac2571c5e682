//! `catalog`: browse it (through the daemon), export it as JSON Lines, and
//! rebuild a lost state store's catalog from the bucket (daemon stopped).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{list, output, report, ApiArgs};
use crate::client;
use crate::config::Config;

#[derive(Subcommand)]
pub(super) enum CatalogCommand {
    /// List catalog entries, newest first (one session's: in recording order).
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Only this source's entries (a [[sources]] name).
        #[arg(long)]
        source: Option<String>,
        /// Only files of this kind.
        #[arg(long, value_parser = ["recording", "snapshot"])]
        kind: Option<String>,
        /// Only this publish session's recordings, in the order recorded.
        #[arg(long)]
        session: Option<String>,
        /// Only recordings from this time on: RFC 3339 (2024-05-01T08:00:00Z)
        /// or a day (2024-05-01: from 00:00 UTC).
        #[arg(long, value_parser = time_or_day)]
        since: Option<String>,
        /// Only recordings from before this time: RFC 3339, or a day
        /// (2024-05-02: before 00:00 UTC of that day).
        #[arg(long, value_parser = time_or_day)]
        until: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the running daemon's catalog, one JSON entry per line.
    Export {
        #[command(flatten)]
        api: ApiArgs,
        /// JSON Lines: the only format (the manifests' own) and the default;
        /// accepted for scripts that name it.
        #[arg(long)]
        jsonl: bool,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Recreate the catalog of a lost state store from the bucket's manifests
    /// and sidecars. Run it with the daemon stopped, on its configuration.
    Rebuild {
        /// TOML configuration file (the store and the state directory).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Every instance's entries, not only this instance_id's.
        #[arg(long)]
        all_instances: bool,
    },
}

pub(super) fn run(command: CatalogCommand) -> ExitCode {
    match command {
        CatalogCommand::List {
            api,
            stream,
            source,
            kind,
            session,
            since,
            until,
            json,
        } => {
            let mut query = Vec::new();
            query.extend(stream.map(|s| ("stream", s)));
            query.extend(source.map(|s| ("source", s)));
            query.extend(kind.map(|k| ("kind", k)));
            query.extend(since.map(|s| ("since", s)));
            query.extend(until.map(|s| ("until", s)));
            let table = match session {
                Some(s) => {
                    query.push(("session", s));
                    client::session_table
                }
                None => client::catalog_table,
            };
            list(&api, "/api/v1/catalog", &query, json, None, |_, items| {
                Ok(table(items))
            })
        }
        CatalogCommand::Export { api, output, .. } => report(export(&api, output)),
        CatalogCommand::Rebuild {
            config,
            all_instances,
        } => report(rebuild(config, all_instances)),
    }
}

/// A `--since`/`--until` value as the API takes it: RFC 3339 as given, a
/// day (YYYY-MM-DD) as its first instant in UTC.
fn time_or_day(s: &str) -> Result<String, String> {
    if crate::time::parse_rfc3339(s).is_some() {
        return Ok(s.trim().to_owned());
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(|d| format!("{d}T00:00:00Z"))
        .map_err(|_| {
            format!(
                "{s:?} is neither a day (2024-05-01) nor an RFC 3339 time (2024-05-01T08:00:00Z)"
            )
        })
}

fn export(api: &ApiArgs, output: Option<PathBuf>) -> Result<(), String> {
    let query = [("limit", "1000".to_owned())];
    let items = api.target()?.get_all("/api/v1/catalog", &query)?;
    let Some(p) = output else {
        let mut chunk = String::new();
        for e in &items {
            chunk.push_str(&e.to_string());
            chunk.push('\n');
            if chunk.len() >= 64 * 1024 {
                output::print(&std::mem::take(&mut chunk));
            }
        }
        output::print(&chunk);
        return Ok(());
    };
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", p.display());
    let mut out = std::io::BufWriter::new(std::fs::File::create(&p).map_err(failed)?);
    for e in &items {
        writeln!(out, "{e}").map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    eprintln!("{} entries written to {}", items.len(), p.display());
    Ok(())
}

fn rebuild(config: Option<PathBuf>, all_instances: bool) -> Result<(), String> {
    let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&config.state.dir)
        .map_err(|e| format!("cannot create {}: {e}", config.state.dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let repo = runtime.block_on(crate::state::open(&config)).map_err(|e| {
        format!(
            "cannot open the state store at {} (is the daemon running? stop it first): {e}",
            config.state.dir.display()
        )
    })?;
    let rebuilt = runtime.block_on(async {
        let store = crate::store::Store::open(&config).await?;
        let instance = (!all_instances).then_some(config.instance_id.as_str());
        let rebuilt = crate::manifest::rebuild(&repo, &store, instance).await?;
        repo.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(rebuilt)
    })?;
    output::println(&serde_json::to_string_pretty(&rebuilt).unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::time_or_day;

    #[test]
    fn a_day_means_its_first_instant_in_utc() {
        assert_eq!(time_or_day("2024-05-01").unwrap(), "2024-05-01T00:00:00Z");
        let t = "2024-05-01T08:00:00+02:00";
        assert_eq!(time_or_day(t).unwrap(), t);
        let e = time_or_day("yesterday").unwrap_err();
        assert!(e.contains("2024-05-01"), "{e}");
        assert!(time_or_day("2024-02-30").is_err());
    }
}
