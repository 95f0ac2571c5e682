//! The command line: `serve`, `check-config`, and the admin commands,
//! which go through the running daemon's API.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod catalog;
mod jobs;
mod notifications;
mod output;
mod state;

use crate::client;
use crate::config::Config;
use catalog::CatalogCommand;
use jobs::JobsCommand;
use notifications::NotificationsCommand;

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
        /// Log line format (default: [log] format, else text).
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
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
    /// Archive jobs: list them, retry failed ones.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Streams seen; by default only those live now.
    Streams {
        #[command(flatten)]
        api: ApiArgs,
        /// Every stream seen, live or not.
        #[arg(long)]
        all: bool,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Queue a local file of a source with a file origin, through the running
    /// daemon (MediaMTX: runOnRecordSegmentComplete).
    Enqueue {
        #[command(flatten)]
        api: ApiArgs,
        /// The source whose file origin holds the file.
        #[arg(long)]
        source: String,
        /// The file: absolute; or relative to the current directory when it
        /// is there (sent as an absolute path), else to the origin's roots.
        #[arg(long)]
        file: String,
        /// The stream it is a recording of (default: the file name up to its first '-' or '.').
        #[arg(long)]
        stream: Option<String>,
        /// The application (MediaMTX: the path).
        #[arg(long)]
        app: Option<String>,
    },
    /// Notifications to the [[notify]] endpoints: list them, send failed ones again.
    Notifications {
        #[command(subcommand)]
        command: NotificationsCommand,
    },
    /// Callbacks that could not be read, kept whole.
    Rejected {
        #[command(subcommand)]
        command: RejectedCommand,
    },
    /// Callbacks refused before they were read (a wrong or missing token
    /// or signature, an unknown source): the last 24 hours' count and the
    /// latest, from the daemon's memory.
    Refused {
        #[command(flatten)]
        api: ApiArgs,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The state itself: copy the embedded store into PostgreSQL.
    State {
        #[command(subcommand)]
        command: state::StateCommand,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

/// How to reach the daemon's API; what is not given is read from the
/// daemon's configuration (see [`client::Target`]).
#[derive(clap::Args, Clone)]
struct ApiArgs {
    /// The daemon's configuration: its listen address, [api] token, or the
    /// token it keeps in [state] dir (default: the built-in defaults).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The daemon's address (default: from the configuration's server.listen).
    #[arg(long)]
    api: Option<String>,
    /// Bearer token (default: RECORDING_ARCHIVER_API_TOKEN, else the daemon's
    /// RECORDING_ARCHIVER__API__TOKEN, else [api] token, else <[state] dir>/api-token).
    #[arg(long)]
    token: Option<String>,
}

impl ApiArgs {
    /// The API's address and token, the flags first, then the configuration.
    fn target(&self) -> Result<client::Target, String> {
        let token = self.token.clone().or_else(client::token_from_env);
        client::Target::find(self.config.as_deref(), self.api.clone(), token)
    }
}

#[derive(Subcommand)]
enum RejectedCommand {
    /// List kept requests, newest first.
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-read a kept request with the current parsers and record it.
    Replay {
        #[command(flatten)]
        api: ApiArgs,
        id: String,
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
        Command::CheckConfig { config } => check_config(config.as_deref()),
        Command::Catalog { command } => catalog::run(command),
        Command::Jobs { command } => jobs::run(command),
        Command::Notifications { command } => notifications::run(command),
        Command::State { command } => state::run(command),
        Command::Enqueue {
            api,
            source,
            file,
            stream,
            app,
        } => enqueue(&api, source, file, stream, app),
        Command::Streams { api, all, json } => {
            let query: Vec<(&str, String)> = if all {
                Vec::new()
            } else {
                vec![("live", "true".to_owned())]
            };
            list(&api, "/api/v1/streams", &query, json, None, |_, items| {
                Ok(client::streams_table(items, !all))
            })
        }
        Command::Rejected {
            command: RejectedCommand::List { api, json },
        } => list(&api, "/api/v1/rejected", &[], json, None, |_, items| {
            Ok(client::rejected_table(items))
        }),
        Command::Rejected {
            command: RejectedCommand::Replay { api, id },
        } => report(
            api.target()
                .and_then(|t| t.post(&format!("/api/v1/rejected/{id}/replay"), &[]))
                .map(|v| output::println(&format!("replayed {id} as events {}", v["events"]))),
        ),
        Command::Refused { api, json } => report(api.target().and_then(|t| {
            let answer = t.get("/api/v1/refused")?;
            if json {
                output::println(&serde_json::to_string_pretty(&answer).unwrap_or_default());
            } else {
                output::print(&client::refused_table(&answer));
            }
            Ok(())
        })),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "recording-archiver", &mut script);
            output::print(&String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Serve { config, log_format } => serve(config, log_format),
    }
}

/// `check-config`: the effective configuration, secrets hidden, or why
/// it is refused.
fn check_config(config: Option<&std::path::Path>) -> ExitCode {
    match crate::daemon::checked_config(config) {
        Ok((c, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            output::print(&c.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `enqueue`: asks the daemon to archive a file no callback announced.
fn enqueue(
    api: &ApiArgs,
    source: String,
    file: String,
    stream: Option<String>,
    app: Option<String>,
) -> ExitCode {
    let file = from_here(file);
    let mut query = vec![("source", source), ("file", file.clone())];
    query.extend(stream.map(|s| ("stream", s)));
    query.extend(app.map(|a| ("app", a)));
    report(
        api.target()
            .and_then(|t| t.post("/api/v1/enqueue", &query))
            .map(|v| {
                let job = v["jobs"][0].as_str().unwrap_or("-");
                if v["duplicate"] == true {
                    output::println(&format!("already known: {file} (job {job})"));
                } else {
                    output::println(&format!("queued {file} (job {job})"));
                }
            }),
    )
}

/// A relative `file` that names a file from the current directory, as a
/// shell user means it, made absolute: the daemon's directory is not ours.
/// One that is not there is sent as given, relative to the origin's roots
/// (a hook on the daemon's machine may name it so).
fn from_here(file: String) -> String {
    let path = std::path::Path::new(&file);
    if path.is_absolute() || !path.is_file() {
        return file;
    }
    match std::path::absolute(path) {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(_) => file,
    }
}

/// `serve`: runs the daemon until it is told to stop.
fn serve(config: Option<PathBuf>, log_format: Option<LogFormat>) -> ExitCode {
    let loaded = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The flag wins over [log] format.
    let format = log_format.unwrap_or(match loaded.log.format {
        crate::config::LogFormat::Text => LogFormat::Text,
        crate::config::LogFormat::Json => LogFormat::Json,
    });
    init_logging(format);
    match crate::daemon::run(config.is_none(), loaded) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a listing (its first `limit` items, else all) as a table, or as
/// the API's JSON with `--json`.
fn list(
    api: &ApiArgs,
    path: &str,
    query: &[(&str, String)],
    json: bool,
    limit: Option<usize>,
    table: impl FnOnce(&client::Target, &[serde_json::Value]) -> Result<String, String>,
) -> ExitCode {
    let mut query = query.to_vec();
    let page = limit.map_or(MAX_PAGE, |l| l.min(MAX_PAGE));
    query.push(("limit", page.to_string()));
    report(api.target().and_then(|t| {
        let items = t.get_first(path, &query, limit)?;
        if json {
            let page = serde_json::json!({"items": items, "next_cursor": null});
            output::println(&serde_json::to_string_pretty(&page).unwrap_or_default());
        } else {
            output::print(&table(&t, &items)?);
        }
        Ok(())
    }))
}

/// The most items the API gives in one page.
const MAX_PAGE: usize = 1000;

/// Exit code for a command's outcome; the error goes to stderr.
fn report(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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
