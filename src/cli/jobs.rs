//! `jobs`: list archive jobs with the stream each is for, retry failed ones.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

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
            query.extend(source.clone().map(|s| ("source", s)));
            let limit = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            list(&api, "/api/v1/jobs", &query, json, limit, |t, jobs| {
                let streams = streams_of(t, jobs, source)?;
                Ok(client::jobs_table(jobs, &streams))
            })
        }
        JobsCommand::Retry { api, id, .. } => report(api.target().and_then(|t| retry(&t, id))),
    }
}

/// Each job's stream (`app/stream`) by its event id. A job names the event
/// that made it, not its stream: the events are read, newest first like
/// the jobs, until every job's is found.
fn streams_of(
    t: &client::Target,
    jobs: &[Value],
    source: Option<String>,
) -> Result<HashMap<String, String>, String> {
    let mut wanted: HashSet<&str> = jobs.iter().filter_map(|j| j["event_id"].as_str()).collect();
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let mut query = vec![("limit", "1000".to_owned())];
    query.extend(source.map(|s| ("source", s)));
    t.get_pages("/api/v1/events", &query, &mut |events| {
        for e in &events {
            if let Some(id) = e["id"].as_str() {
                if wanted.remove(id) {
                    found.insert(id.to_owned(), client::app_stream(e));
                }
            }
        }
        !wanted.is_empty()
    })?;
    Ok(found)
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
