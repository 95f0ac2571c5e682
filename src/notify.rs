//! Outbound notifications (`[[notify]]`): each one a durable job in the
//! archive queue, pushed in the very transaction that records what it tells
//! of (a catalog entry, a job failing for good, a stream's start), retried
//! with the queue's policy, and signed the Standard Webhooks way. The
//! `webhook-id` is the job's id, the same on every retry, so a receiver
//! that has seen it can drop a repeat.

mod sign;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::catalog::CatalogEntry;
use crate::config::{Config, NotifyConfig};
use crate::db::{Db, DbError, Tx, TxError};
use crate::event::Event;
use crate::id::{EventId, JobId};
use crate::net::{AllowList, GuardedResolver};
use crate::queue::{self, FileIdentity, Job, Notification, Pushed};
use crate::retry::Failure;
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

    fn wanting<'a>(&'a self, event: &'a str, source: &'a str) -> impl Iterator<Item = &'a Target> {
        self.targets
            .iter()
            .filter(move |t| t.config.wants(event, source))
    }

    /// Ids for the notifications `event` about `source` calls for, drawn
    /// before the transaction that pushes them (a retried transaction must
    /// not draw new ones).
    pub fn ids(
        &self,
        db: &Db,
        event: &str,
        source: &str,
        now: &Timestamp,
    ) -> Result<Vec<JobId>, DbError> {
        self.wanting(event, source)
            .map(|_| db.new_key(now).map(JobId))
            .collect()
    }

    /// Pushes, in `tx`, one job per target wanting `event` about `source`,
    /// each made once for `subject` (a catalog entry, a job, an event) and
    /// `ids` drawn by [`Notifier::ids`]; what became of each, for the
    /// queue's counts once the transaction is committed.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &self,
        tx: &Tx,
        ids: &[JobId],
        event: &str,
        source: &str,
        subject: &str,
        event_id: EventId,
        body: &Value,
        now: Timestamp,
    ) -> Result<Vec<Pushed>, TxError> {
        let mut pushed = Vec::new();
        for (t, id) in self.wanting(event, source).zip(ids) {
            let n = Notification {
                target: t.config.id().to_owned(),
                event: event.to_owned(),
                body: body.to_string(),
                subject: subject.to_owned(),
            };
            let job = Job::for_notification(*id, n, &t.config.url, source, event_id, now);
            let identity = FileIdentity::notification(t.config.id(), event, subject);
            pushed.push(queue::push(tx, &job, &identity)?);
        }
        Ok(pushed)
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

/// The body of an `archived` notification: the catalog entry.
pub fn archived_body(entry: &CatalogEntry) -> Value {
    let mut v = serde_json::to_value(entry).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("type".to_owned(), json!("archived"));
    }
    v
}

/// The body of a `failed` notification: the job as it gave up, without
/// what may be secret (the origin's query string and password, the upload).
pub fn failed_body(job: &Job, error: &str) -> Value {
    let origin = match &job.origin {
        crate::event::Location::Url(u) => match reqwest::Url::parse(u) {
            Ok(mut url) => {
                url.set_query(None);
                let _ = url.set_password(None);
                json!({"type": "url", "value": url.as_str()})
            }
            Err(_) => json!({"type": "url", "value": job.origin.file_name()}),
        },
        path => json!(path),
    };
    let shown = json!({
        "id": job.id, "state": job.state, "attempts": job.attempts, "source": job.source,
        "kind": job.kind, "origin": origin, "event_id": job.event_id,
        "created_at": job.created_at, "updated_at": job.updated_at,
        "last_error": error, "found_by": job.found_by,
    });
    json!({"type": "failed", "job": shown, "last_error": error, "attempts": job.attempts})
}

/// The body of a stream or recording event's notification: the event.
pub fn event_body(event: &Event) -> Value {
    json!({"type": event.kind.as_str(), "event": event})
}
