//! `catalog`: browse it (through the daemon), export it as JSON Lines, and
//! rebuild a lost state store's catalog from the bucket (daemon stopped).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{list, report, ApiArgs};
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
        /// Only this publish session's recordings, in the order recorded.
        #[arg(long)]
        session: Option<String>,
        /// Only recordings from this time on (RFC 3339, e.g. 2024-05-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the running daemon's catalog, one JSON entry per line.
    Export {
        #[command(flatten)]
        api: ApiArgs,
        /// JSON Lines (the only format, and the manifests' own).
        #[arg(long, required = true)]
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
            session,
            since,
            json,
        } => {
            let mut query = Vec::new();
            query.extend(stream.map(|s| ("stream", s)));
            query.extend(since.map(|s| ("since", s)));
            let table = match session {
                Some(s) => {
                    query.push(("session", s));
                    client::session_table
                }
                None => client::catalog_table,
            };
            list(&api, "/api/v1/catalog", &query, json, table)
        }
        CatalogCommand::Export { api, output, .. } => report(export(&api, output)),
        CatalogCommand::Rebuild {
            config,
            all_instances,
        } => report(rebuild(config, all_instances)),
    }
}

fn export(api: &ApiArgs, output: Option<PathBuf>) -> Result<(), String> {
    let query = [("limit", "1000".to_owned())];
    let items = api.target()?.get_all("/api/v1/catalog", &query)?;
    let mut out: Box<dyn Write> = match &output {
        Some(p) => Box::new(
            std::fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    for e in &items {
        writeln!(out, "{e}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    if let Some(p) = output {
        eprintln!("{} entries written to {}", items.len(), p.display());
    }
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
    println!(
        "{}",
        serde_json::to_string_pretty(&rebuilt).unwrap_or_default()
    );
    Ok(())
}
