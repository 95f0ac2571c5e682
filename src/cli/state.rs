//! `state copy`: an embedded state moved into PostgreSQL, so a single
//! instance can become several without losing anything.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use crate::config::Config;
use crate::state::postgres::{PgRepo, Target};
use crate::state::sled::SledRepo;
use crate::state::StateError;

#[derive(Subcommand)]
pub(super) enum StateCommand {
    /// Copy the embedded state of a stopped daemon (its [state] dir) into an
    /// empty PostgreSQL database: ids, jobs in every state, events, catalog,
    /// streams, rejected requests, notifications and upload records. Then set
    /// [state] url to the database and start the daemons.
    Copy {
        /// The daemon's configuration ([state] dir, instance_id).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The database: postgres://user:password@host:port/db?sslmode=...
        #[arg(long, env = "RECORDING_ARCHIVER_STATE_COPY_TO", hide_env_values = true)]
        to: String,
    },
}

/// Runs a `state` command.
pub(super) fn run(command: StateCommand) -> ExitCode {
    let StateCommand::Copy { config, to } = command;
    match copy(config, &to) {
        Ok(summary) => {
            super::output::println(&summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn copy(config: Option<PathBuf>, to: &str) -> Result<String, String> {
    let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
    if !config.state.url.is_empty() {
        return Err(
            "this configuration's [state] url is set: its state is in a database \
                    already; state copy reads the embedded store in [state] dir"
                .into(),
        );
    }
    let dir = &config.state.dir;
    if std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none()) {
        return Err(format!(
            "no embedded state in [state] dir = {}: nothing to copy",
            dir.display()
        ));
    }
    let sled = SledRepo::open(&config.state).map_err(|e| {
        format!(
            "cannot open the embedded state in {} (is the daemon running? stop it first): {e}",
            dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let target = Target::parse(to, 2).map_err(|e| format!("--to: {e}"))?;
        let gap = Duration::from_secs(config.state.session_gap_secs);
        let pg = PgRepo::connect(target, &config.instance_id, gap)
            .await
            .map_err(|e| format!("--to: {e}"))?;
        if !pg.is_empty().await.map_err(|e| e.to_string())? {
            return Err("the database named by --to holds a state already: \
                        state copy only fills an empty one"
                .to_owned());
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let export = tokio::task::spawn_blocking(move || {
            sled.export(|r| {
                tx.blocking_send(r)
                    .map_err(|_| StateError::Engine("the copy stopped".into()))
            })
        });
        let copied = pg.import(rx, export).await.map_err(|e| e.to_string())?;
        let counts: Vec<String> = copied.iter().map(|(k, n)| format!("{n} {k}")).collect();
        Ok(format!(
            "copied {} into the database: {}\nnow set [state] url to it and start the daemons",
            dir.display(),
            if counts.is_empty() {
                "nothing".to_owned()
            } else {
                counts.join(", ")
            }
        ))
    })
}
