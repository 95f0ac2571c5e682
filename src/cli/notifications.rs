//! `notifications`: deliveries to the `[[notify]]` endpoints; list those
//! that gave up and send them again.

use std::process::ExitCode;

use clap::Subcommand;

use super::{list, output, report, ApiArgs};
use crate::client;

#[derive(Subcommand)]
pub(super) enum NotificationsCommand {
    /// List notification deliveries, newest first.
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Only those in this state (failed: those that gave up).
        #[arg(long)]
        state: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send failed deliveries again.
    Retry {
        #[command(flatten)]
        api: ApiArgs,
        /// The delivery (its job id) to send again.
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<String>,
        /// Every failed delivery.
        #[arg(long)]
        all_failed: bool,
    },
}

pub(super) fn run(command: NotificationsCommand) -> ExitCode {
    match command {
        NotificationsCommand::List { api, state, json } => {
            let query: Vec<(&str, String)> = state.map(|s| ("state", s)).into_iter().collect();
            list(
                &api,
                "/api/v1/notifications",
                &query,
                json,
                None,
                |_, items| Ok(client::notifications_table(items)),
            )
        }
        NotificationsCommand::Retry { api, id, .. } => report(api.target().and_then(|t| {
            let ids = match id {
                Some(id) => vec![id],
                None => t
                    .get_all("/api/v1/notifications", &[("state", "failed".to_owned())])?
                    .iter()
                    .filter_map(|j| j["id"].as_str().map(str::to_owned))
                    .collect(),
            };
            for id in &ids {
                t.post(&format!("/api/v1/notifications/{id}/retry"), &[])?;
                output::println(&format!("queued again: {id}"));
            }
            Ok(())
        })),
    }
}
