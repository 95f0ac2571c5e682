//! Outbound notifications (`[[notify]]`): each one a durable job in the
//! archive queue, pushed by the state in the very operation that records
//! what it tells of (a catalog entry, a job failing for good, a stream's
//! start; bodies in `state/notices.rs`), retried
//! with the queue's policy, and signed the Standard Webhooks way. The
//! `webhook-id` is the job's id, the same on every retry, so a receiver
//! that has seen it can drop a repeat.

mod sign;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, NotifyConfig};
use crate::event::Event;
use crate::net::{AllowList, GuardedResolver};
use crate::queue::Job;
use crate::retry::Failure;
use crate::state::notices::notice_kind;
use crate::state::{Callback, NoticeTarget};
use crate::time::Timestamp;

pub use sign::signature;

/// One `[[notify]]` entry, ready to send.
struct Target {
    config: NotifyConfig,
    key: Vec<u8>,
    allow: Arc<AllowList>,
    client: reqwest::Client,
}

/// Every configured notification target.
#[derive(Default)]
pub struct Notifier {
    targets: Vec<Target>,
}

impl Notifier {
    /// The targets of `config`, each with a client held to the outbound
    /// policy: public addresses only, unless its host is listed exactly in
    /// its `allow_hosts`; no redirects, no proxy from the environment.
    pub fn build(config: &Config) -> Result<Notifier, String> {
        let timeout = Duration::from_secs(config.transfer.request_timeout_secs);
        let mut targets = Vec::new();
        for n in &config.notify {
            let mut patterns = vec!["*".to_owned()];
            patterns.extend(n.allow_hosts.iter().cloned());
            let allow = Arc::new(AllowList::new(&patterns, None));
            let client = reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver::new(Arc::clone(&allow), None)))
                .connect_timeout(timeout)
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .map_err(|e| format!("notify {}: {e}", n.id()))?;
            targets.push(Target {
                key: n
                    .key()
                    .map_err(|e| format!("notify {}.secret: {e}", n.id()))?,
                config: n.clone(),
                allow,
                client,
            });
        }
        Ok(Notifier { targets })
    }

    /// The targets wanting to be told of `event` about `source`.
    pub fn wanting(&self, event: &str, source: &str) -> Vec<NoticeTarget> {
        self.targets
            .iter()
            .filter(|t| t.config.wants(event, source))
            .map(|t| NoticeTarget {
                target: t.config.id().to_owned(),
                url: t.config.url.clone(),
            })
            .collect()
    }

    /// A callback of `events`, each with the targets wanting to be told of it.
    pub fn callback(&self, events: Vec<Event>, now: Timestamp) -> Callback {
        let notices = events
            .iter()
            .map(|e| match notice_kind(e) {
                Some(kind) => self.wanting(kind, &e.source),
                None => Vec::new(),
            })
            .collect();
        Callback {
            events,
            notices,
            now,
        }
    }

    /// Sends one notification job's delivery: a 2xx answer delivers it.
    pub async fn deliver(&self, job: &Job) -> Result<(), Failure> {
        let n = job
            .notification
            .as_ref()
            .ok_or_else(|| Failure::permanent("not a notification job"))?;
        let t = self
            .targets
            .iter()
            .find(|t| t.config.id() == n.target)
            .ok_or_else(|| {
                Failure::permanent(format!("notify {:?} is no longer configured", n.target))
            })?;
        let url = reqwest::Url::parse(&t.config.url)
            .map_err(|e| Failure::permanent(format!("notify {}: {e}", n.target)))?;
        if !t.allow.allows(&url) {
            return Err(Failure::permanent(format!(
                "notify {}: {} is an internal address; list it in allow_hosts to send there",
                n.target,
                url.host_str().unwrap_or("")
            )));
        }
        let id = job.id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let response = t
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(&t.key, &id, timestamp, &n.body),
            )
            .body(n.body.clone())
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(Failure::from_status(
            status.as_u16(),
            &format!("notify {}: POST", n.target),
        ))
    }
}
