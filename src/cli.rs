//! The command line: `serve` and `check-config`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::db::Db;
use crate::source::Sources;
use crate::store::Store;
use crate::worker;

#[derive(Parser)]
#[command(
    name = "recording-archiver",
    version,
    about = "Archives live-streaming recordings announced by platform callbacks into your own storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (built-in defaults without --config: loopback, ./var/state, ./var/archive).
    Serve {
        /// TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Log line format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Validate the configuration and print it as it takes effect, secrets hidden.
    CheckConfig {
        /// TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Browse what has been archived.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// List catalog entries, newest first.
    List {
        /// The daemon's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        api: String,
        /// Bearer token, when the daemon sets [api] token.
        #[arg(long, env = "RECORDING_ARCHIVER_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Only recordings from this time on (RFC 3339, e.g. 2024-05-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(config.as_deref()) {
            Ok(c) => {
                print!("{}", c.to_redacted_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Catalog {
            command:
                CatalogCommand::List {
                    api,
                    token,
                    stream,
                    since,
                    json,
                },
        } => {
            let mut query = vec![("limit", "1000".to_owned())];
            query.extend(stream.map(|s| ("stream", s)));
            query.extend(since.map(|s| ("since", s)));
            match crate::client::get_all(&api, "/api/v1/catalog", &query, token.as_deref()) {
                Ok(items) if json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"items": items, "next_cursor": null})
                        )
                        .unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Ok(items) => {
                    print!("{}", crate::client::catalog_table(&items));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config, log_format } => {
            init_logging(log_format);
            match serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(config_path: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let config = Arc::new(Config::load(config_path.as_deref())?);
    if config_path.is_none() {
        tracing::info!("no --config given: running on built-in defaults");
    }
    for s in config.sources.iter().filter(|s| s.token.is_empty()) {
        tracing::warn!(
            source = %s.name,
            "source {:?} accepts callbacks without a token; acceptable only because {} is a loopback address",
            s.name, config.server.listen
        );
    }
    std::fs::create_dir_all(&config.state.dir).map_err(|e| {
        format!(
            "cannot create state.dir {}: {e}",
            config.state.dir.display()
        )
    })?;
    let db = Db::open(&config.state.dir)?;
    let requeued = db.requeue_running(chrono::Utc::now())?;
    if requeued > 0 {
        tracing::warn!(
            jobs = requeued,
            "jobs left running by an unclean stop are queued again"
        );
    }
    db.flush_now()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Arc::new(Store::open(&config).await?);
        if let Err(e) = store.check().await {
            // Not fatal: callbacks are still received and kept; transfers retry.
            tracing::error!("the store does not answer: {e}");
        }
        let sources = Sources::build(&config).await?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let pool = worker::start(Arc::new(worker::Context {
            db: db.clone(),
            store: Arc::clone(&store),
            sources,
            transfer: config.transfer.clone(),
            wake: Arc::clone(&wake),
            metrics: Arc::clone(&metrics),
        }));
        // Returns on SIGTERM/SIGINT once in-flight requests are answered.
        crate::http::serve(Arc::clone(&config), db.clone(), wake, store, metrics).await?;
        pool.shutdown(std::time::Duration::from_secs(
            config.transfer.shutdown_grace_secs,
        ))
        .await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    db.flush_now()?;
    tracing::info!("stopped");
    Ok(())
}
