//! `jobs`: list archive jobs with the stream each is for, retry failed ones.

use std::process::ExitCode;

use clap::Subcommand;

use super::{list, output, report, ApiArgs};
use crate::client;

#[derive(Subcommand)]
pub(super) enum JobsCommand {
    /// List jobs, newest first.
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Only jobs in this state (queued, running, retrying, failed, done, dismissed).
        #[arg(long)]
        state: Option<String>,
        /// Only jobs of this source (a [[sources]] name).
        #[arg(long)]
        source: Option<String>,
        /// At most this many jobs, the newest (default: every one).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put failed jobs back in the queue.
    Retry {
        #[command(flatten)]
        api: ApiArgs,
        /// The job to retry.
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<String>,
        /// Every failed job.
        #[arg(long)]
        all_failed: bool,
    },
}

/// Runs a `jobs` command.
pub(super) fn run(command: JobsCommand) -> ExitCode {
    match command {
        JobsCommand::List {
            api,
            state,
            source,
            limit,
            json,
        } => {
            let mut query = Vec::new();
            query.extend(state.map(|s| ("state", s)));
            query.extend(source.map(|s| ("source", s)));
            let limit = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            list(&api, "/api/v1/jobs", &query, json, limit, |_, jobs| {
                Ok(client::jobs_table(jobs))
            })
        }
        JobsCommand::Retry { api, id, .. } => report(api.target().and_then(|t| retry(&t, id))),
    }
}

/// `jobs retry`: the job named, or every failed one.
fn retry(t: &client::Target, id: Option<String>) -> Result<(), String> {
    let ids = match id {
        Some(id) => vec![id],
        None => t
            .get_all("/api/v1/jobs", &[("state", "failed".to_owned())])?
            .iter()
            .filter_map(|j| j["id"].as_str().map(str::to_owned))
            .collect(),
    };
    for id in &ids {
        t.post(&format!("/api/v1/jobs/{id}/retry"), &[])?;
        output::println(&format!("queued again: {id}"));
    }
    Ok(())
}
