//! Recording a callback in PostgreSQL: events, their jobs (deduplicated by
//! `job_names`), stream liveness, HLS recordings written segment by
//! segment, and the notifications, in one transaction; `NOTIFY` once it
//! queued work. Also the events log, streams and rejected requests.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::listing::{list, newest_first, Listing};
use super::push::{self, push_notices, Notice, Pushed};
use super::sql::{exec, json, opt, read, record, rows, E};
use super::{hls, in_tx, PgRepo};
use crate::event::Event;
use crate::id::{EventId, RejectedId, TimeKey};
use crate::queue::Lane;
use crate::rejected::RejectedRequest;
use crate::state::intake::{ids_needed, prepare, Prepared};
use crate::state::notices::{event_body, notice_kind, notice_subject};
use crate::state::{
    playlist_job, Callback, IntakeRepo, Keep, Page, PageRequest, Recorded, StateError,
};
use crate::stream::StreamState;
use crate::time::Timestamp;

impl PgRepo {
    /// Draws the callback's ids (a block of sequence numbers first: the
    /// drawing itself is synchronous) and makes its jobs.
    async fn prepare(&self, callback: Callback) -> Result<Vec<Prepared>, StateError> {
        let mut seqs = Vec::with_capacity(ids_needed(&callback));
        for _ in 0..seqs.capacity() {
            seqs.push(self.seq().await?);
        }
        let mut seqs = seqs.into_iter();
        prepare(callback, |at| {
            let seq = seqs
                .next()
                .ok_or_else(|| StateError::Engine("too few ids drawn".into()))?;
            Ok(TimeKey::new(crate::time::to_millis(at), seq))
        })
    }
}

/// Serializes the callbacks of one stream for this transaction (its
/// liveness and its HLS recording are read, then written).
async fn lock_stream(c: &impl GenericClient, key: &[u8]) -> Result<(), E> {
    let sql = "SELECT pg_advisory_xact_lock(hashtextextended(encode($1, 'escape'), 0))";
    exec(c, sql, &[&key]).await.map(drop)
}

/// Records one prepared event in `c`; what it came to.
async fn record_one(
    c: &impl GenericClient,
    p: &Prepared,
    repo: &PgRepo,
    now: Timestamp,
) -> Result<Recorded, E> {
    let instance = repo.inner.instance.as_str();
    let mut event = p.event.clone();
    if let Some(key) = StreamState::key_of(&event) {
        lock_stream(c, &key).await?;
    }
    let (mut new_job, mut requeued) = (None, false);
    let job = match &p.job {
        Some(j) => {
            hls::note_segment_of(c, &mut event, j.0.id).await?;
            Some(j.clone())
        }
        None => match (hls::close_open(c, &event).await?, p.spare) {
            (Some(open), Some(id)) => {
                let (job, identity, bare) = playlist_job(&mut event, open, id, now);
                push::also_known_as(c, &bare, id).await?;
                Some((job, identity))
            }
            _ => None,
        },
    };
    if let Some((job, identity)) = &job {
        // Found by the other finder (a callback, the bucket's sweep): its
        // job. The object's lock orders the two finders' transactions.
        let mut identity = identity.clone();
        if let Some(alias) = &p.alias {
            let lock = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))";
            exec(
                c,
                lock,
                &[&String::from_utf8_lossy(alias.as_bytes()).as_ref()],
            )
            .await?;
            if let Some(twin) = alias.twin() {
                let named = "SELECT 1 FROM job_names WHERE identity = $1";
                if opt(c, named, &[&twin.as_bytes()]).await?.is_some() {
                    identity = twin;
                }
            }
        }
        let p = push::push(c, job, &identity, instance).await?;
        match &p {
            Pushed::New => {
                event.job_id = Some(job.id);
                new_job = Some(job.clone());
            }
            Pushed::Duplicate(existing) | Pushed::Requeued(existing, _) => {
                event.job_id = Some(*existing);
                event.duplicate = true;
                requeued = matches!(p, Pushed::Requeued(..));
            }
        }
    }
    // The object's name follows its newest job: the bucket's sweep asks by it.
    if let (Some(alias), Some(id)) = (&p.alias, event.job_id) {
        push::also_known_as(c, alias, id).await?;
    }
    event.session = update_stream(c, &event, repo.inner.session_gap).await?;
    let sql = "INSERT INTO events (id, job_id, event) VALUES ($1, $2, $3)";
    let job_key = event.job_id.map(|j| j.key().to_vec());
    exec(c, sql, &[&&event.id.key()[..], &job_key, &json(&event)]).await?;
    let mut notified = false;
    if let Some(kind) = notice_kind(&event) {
        let (subject, body) = (notice_subject(&event), event_body(&event));
        let notice = Notice {
            kind,
            source: &event.source,
            subject: &subject,
            event_id: event.id,
            body: &body,
        };
        let notes = push_notices(c, &p.notice_ids, &p.targets, &notice, now, instance).await?;
        notified = !notes.is_empty();
    }
    Ok(Recorded {
        event,
        new_job,
        requeued,
        notified,
    })
}

/// Folds `event` into its stream's state; the session it belongs to.
async fn update_stream(
    c: &impl GenericClient,
    event: &Event,
    gap: std::time::Duration,
) -> Result<Option<String>, E> {
    let Some(key) = StreamState::key_of(event) else {
        return Ok(None);
    };
    let row = opt(c, "SELECT stream FROM streams WHERE key = $1", &[&key]).await?;
    let prev: Option<StreamState> = row.map(|r| record(&r, 0, "streams")).transpose()?;
    if !StreamState::concerns(event) {
        return Ok(prev.and_then(|p| {
            let current = p.live || p.within(event.occurred_at, gap);
            p.session.filter(|_| current)
        }));
    }
    let next = StreamState::apply(prev, event, gap);
    let session = next.as_ref().and_then(|n| n.session.clone());
    if let Some(next) = next {
        let sql = "INSERT INTO streams (key, stream) VALUES ($1, $2) \
                   ON CONFLICT (key) DO UPDATE SET stream = excluded.stream";
        exec(c, sql, &[&key, &json(&next)]).await?;
    }
    Ok(session)
}

#[async_trait::async_trait]
impl IntakeRepo for PgRepo {
    async fn record_callback(&self, callback: Callback) -> Result<Vec<Recorded>, StateError> {
        let now = callback.now;
        let prepared = self.prepare(callback).await?;
        in_tx!(self, |tx| {
            let mut out = Vec::with_capacity(prepared.len());
            let (mut files, mut notes) = (false, false);
            for p in &prepared {
                let r = record_one(&tx, p, self, now).await?;
                files |= r.new_job.is_some() || r.requeued;
                notes |= r.notified;
                out.push(r);
            }
            if files {
                self.wake(Lane::Files);
            }
            if notes {
                self.wake(Lane::Notifications);
            }
            Ok(out)
        })
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>, StateError> {
        read!(self, |c| {
            let row = opt(
                &c,
                "SELECT event FROM events WHERE id = $1",
                &[&&id.key()[..]],
            )
            .await?;
            row.map(|r| record(&r, 0, "events")).transpose()
        })
    }

    async fn events(
        &self,
        page: PageRequest,
        keep: Keep<Event>,
    ) -> Result<Page<Event>, StateError> {
        newest_first(self, "events", "event", page, keep).await
    }

    async fn streams(
        &self,
        page: PageRequest,
        keep: Keep<StreamState>,
    ) -> Result<Page<StreamState>, StateError> {
        let l = Listing {
            table: "streams",
            key: "key",
            column: "stream",
            newest_first: false,
            only: None,
        };
        list(self, &l, page, keep).await
    }

    async fn record_rejected(&self, r: RejectedRequest) -> Result<RejectedRequest, StateError> {
        let mut r = r;
        r.id = RejectedId(self.new_key(&r.received_at).await?);
        let sql = "INSERT INTO rejected (id, source, request) VALUES ($1, $2, $3)";
        read!(self, |c| {
            exec(&c, sql, &[&&r.id.key()[..], &r.source, &json(&r)]).await?;
            Ok(r)
        })
    }

    async fn rejected(&self, id: RejectedId) -> Result<Option<RejectedRequest>, StateError> {
        read!(self, |c| {
            let sql = "SELECT request FROM rejected WHERE id = $1";
            let row = opt(&c, sql, &[&&id.key()[..]]).await?;
            row.map(|r| record(&r, 0, "rejected")).transpose()
        })
    }

    async fn rejected_list(
        &self,
        page: PageRequest,
        keep: Keep<RejectedRequest>,
    ) -> Result<Page<RejectedRequest>, StateError> {
        newest_first(self, "rejected", "request", page, keep).await
    }

    async fn mark_replayed(&self, id: RejectedId, events: Vec<EventId>) -> Result<(), StateError> {
        in_tx!(self, |tx| {
            let sql = "SELECT request FROM rejected WHERE id = $1 FOR UPDATE";
            let Some(row) = opt(&tx, sql, &[&&id.key()[..]]).await? else {
                return Ok(());
            };
            let mut r: RejectedRequest = record(&row, 0, "rejected")?;
            r.replayed_as = Some(events.clone());
            let sql = "UPDATE rejected SET request = $2 WHERE id = $1";
            exec(&tx, sql, &[&&id.key()[..], &json(&r)]).await.map(drop)
        })
    }

    async fn rejected_counts(&self) -> Result<HashMap<String, u64>, StateError> {
        read!(self, |c| {
            let sql = "SELECT source, count(*) FROM rejected GROUP BY source";
            let counted = rows(&c, sql, &[]).await?;
            Ok(counted
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect())
        })
    }
}
