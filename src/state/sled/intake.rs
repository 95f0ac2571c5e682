//! Recording a callback in sled: events, their jobs (deduplicated by file
//! identity), stream liveness, HLS recordings written segment by segment,
//! and the notifications, in one group-committed transaction. Also the
//! events log, streams and rejected requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::kv::{decode, encode, tx_get_json, Order, Tree, Tx, TxError};
use super::queue::push::{self, push_notices, Notice, Pushed};
use super::{hls, Inner, SledRepo};
use crate::event::Event;
use crate::id::{EventId, JobId, RejectedId};
use crate::queue::FileIdentity;
use crate::rejected::RejectedRequest;
use crate::state::intake::{prepare, Prepared};
use crate::state::notices::{event_body, notice_kind, notice_subject};
use crate::state::{
    playlist_job, Callback, IntakeRepo, Keep, Page, PageRequest, Recorded, StateError,
};
use crate::stream::StreamState;
use crate::time::Timestamp;

impl Inner {
    /// `n` fresh job ids.
    pub(super) fn ids(&self, n: usize, now: &Timestamp) -> Result<Vec<JobId>, StateError> {
        (0..n).map(|_| self.new_key(now).map(JobId)).collect()
    }
}

/// Records one prepared event in `tx`; what it came to and the jobs pushed.
fn record_one(
    tx: &Tx,
    p: &Prepared,
    gap: Duration,
    now: Timestamp,
) -> Result<(Recorded, Vec<Pushed>), TxError> {
    let mut event = p.event.clone();
    let (mut new_job, mut requeued, mut pushed) = (None, false, Vec::new());
    let job = match &p.job {
        Some(j) => {
            hls::note_segment_of(tx, &mut event, j.0.id)?;
            Some(j.clone())
        }
        None => match (hls::close_open(tx, &event)?, p.spare) {
            (Some(open), Some(id)) => {
                let (job, identity, bare) = playlist_job(&mut event, open, id, now);
                push::also_known_as(tx, &bare, id)?;
                Some((job, identity))
            }
            _ => None,
        },
    };
    if let Some((job, identity)) = &job {
        // Found by the other finder (a callback, the bucket's sweep): its job.
        let twin = p.alias.as_ref().and_then(FileIdentity::twin);
        let identity = match twin {
            Some(t) if tx.get(Tree::Dedupe, t.as_bytes())?.is_some() => t,
            _ => identity.clone(),
        };
        let p = push::push(tx, job, &identity)?;
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
        pushed.push(p);
    }
    // The object's name follows its newest job: the bucket's sweep asks by it.
    if let (Some(alias), Some(id)) = (&p.alias, event.job_id) {
        push::also_known_as(tx, alias, id)?;
    }
    event.session = update_stream(tx, &event, gap)?;
    tx.insert(Tree::Events, event.id.key(), &encode(&event))?;
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
        let notes = push_notices(tx, &p.notice_ids, &p.targets, &notice, now)?;
        notified = !notes.is_empty();
        pushed.extend(notes);
    }
    let recorded = Recorded {
        event,
        new_job,
        requeued,
        notified,
    };
    Ok((recorded, pushed))
}

/// Folds `event` into its stream's state; the session the event belongs
/// to (a recording made while its stream was live, or up to `gap` after
/// it stopped).
fn update_stream(tx: &Tx, event: &Event, gap: Duration) -> Result<Option<String>, TxError> {
    let Some(key) = StreamState::key_of(event) else {
        return Ok(None);
    };
    let prev: Option<StreamState> = tx_get_json(tx, Tree::Streams, &key)?;
    if !StreamState::concerns(event) {
        return Ok(prev.and_then(|p| {
            let current = p.live || p.within(event.occurred_at, gap);
            p.session.filter(|_| current)
        }));
    }
    let next = StreamState::apply(prev, event, gap);
    let session = next.as_ref().and_then(|n| n.session.clone());
    if let Some(next) = next {
        tx.insert(Tree::Streams, &key, &encode(&next))?;
    }
    Ok(session)
}

#[async_trait::async_trait]
impl IntakeRepo for SledRepo {
    async fn record_callback(&self, callback: Callback) -> Result<Vec<Recorded>, StateError> {
        let (gap, now) = (self.inner.session_gap, callback.now);
        let pushed: Arc<Mutex<Vec<Pushed>>> = Arc::default();
        let kept = Arc::clone(&pushed);
        let recorded = self
            .inner
            .db
            .commit_prepared(
                move |ids| prepare(callback, |at| ids.key(at)),
                move |tx, prepared| {
                    let mut out = Vec::with_capacity(prepared.len());
                    let mut all = Vec::new();
                    for p in prepared {
                        let (r, pushed) = record_one(tx, p, gap, now)?;
                        out.push(r);
                        all.extend(pushed);
                    }
                    // Set, not added: a transaction may run more than once.
                    *kept.lock().unwrap_or_else(|e| e.into_inner()) = all;
                    Ok::<_, TxError>(out)
                },
            )
            .await?;
        for p in pushed.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            self.inner.pushed(p);
        }
        Ok(recorded)
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>, StateError> {
        self.blocking(move |i| i.db.get_json(Tree::Events, id.key()))
            .await
    }

    async fn events(
        &self,
        page: PageRequest,
        keep: Keep<Event>,
    ) -> Result<Page<Event>, StateError> {
        self.blocking(move |i| i.db.list(Tree::Events, Order::Descending, &page, keep))
            .await
    }

    async fn streams(
        &self,
        page: PageRequest,
        keep: Keep<StreamState>,
    ) -> Result<Page<StreamState>, StateError> {
        self.blocking(move |i| i.db.list(Tree::Streams, Order::Ascending, &page, keep))
            .await
    }

    async fn record_rejected(&self, r: RejectedRequest) -> Result<RejectedRequest, StateError> {
        let mut r = r;
        let at = r.received_at;
        r.id = RejectedId(self.blocking(move |i| i.new_key(&at)).await?);
        self.inner
            .db
            .commit(move |tx| {
                tx.insert(Tree::Rejected, r.id.key(), &encode(&r))?;
                Ok(r.clone())
            })
            .await
    }

    async fn rejected(&self, id: RejectedId) -> Result<Option<RejectedRequest>, StateError> {
        self.blocking(move |i| i.db.get_json(Tree::Rejected, id.key()))
            .await
    }

    async fn rejected_list(
        &self,
        page: PageRequest,
        keep: Keep<RejectedRequest>,
    ) -> Result<Page<RejectedRequest>, StateError> {
        self.blocking(move |i| i.db.list(Tree::Rejected, Order::Descending, &page, keep))
            .await
    }

    async fn mark_replayed(&self, id: RejectedId, events: Vec<EventId>) -> Result<(), StateError> {
        self.inner
            .db
            .commit(move |tx| {
                let Some(mut r) = tx_get_json::<RejectedRequest>(tx, Tree::Rejected, id.key())?
                else {
                    return Ok(());
                };
                r.replayed_as = Some(events.clone());
                tx.insert(Tree::Rejected, id.key(), &encode(&r))
            })
            .await
    }

    async fn rejected_counts(&self) -> Result<HashMap<String, u64>, StateError> {
        #[derive(Deserialize)]
        struct SourceOnly {
            source: String,
        }
        self.blocking(|i| {
            let mut counts = HashMap::new();
            for item in i.db.iter(Tree::Rejected) {
                let (_, v) = item?;
                let r: SourceOnly = decode(Tree::Rejected, &v)?;
                *counts.entry(r.source).or_insert(0) += 1;
            }
            Ok(counts)
        })
        .await
    }
}
