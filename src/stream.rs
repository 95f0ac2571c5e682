//! Streams seen: who is live now, from the start/stop events received.

use serde::{Deserialize, Serialize};

use crate::db::{encode, tx_get_json, Db, DbError, Order, Page, PageRequest, Tree, Tx, TxError};
use crate::event::{Event, EventKind};
use crate::time::{serde_rfc3339, Timestamp};

/// One stream's last known start and stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub source: String,
    pub domain: String,
    pub app: String,
    pub stream: String,
    /// True between a start and a later stop. Derived from the two times, so
    /// callbacks arriving out of order cannot leave a stream wrongly live.
    pub live: bool,
    #[serde(with = "serde_rfc3339::option", default)]
    pub last_started_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339::option", default)]
    pub last_stopped_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339")]
    pub last_event_at: Timestamp,
}

impl StreamState {
    /// True for the events that change liveness.
    pub fn concerns(e: &Event) -> bool {
        matches!(e.kind, EventKind::StreamStarted | EventKind::StreamStopped)
    }

    /// The state key's parts for an event, when it names a stream.
    pub fn key_of(e: &Event) -> Option<Vec<u8>> {
        let stream = e.stream.name.as_deref()?;
        let parts = [
            e.source.as_str(),
            e.stream.domain.as_deref().unwrap_or(""),
            e.stream.app.as_deref().unwrap_or(""),
            stream,
        ];
        Some(parts.join("\0").into_bytes())
    }

    /// Folds an event into the previous state (if any); `None` when the event
    /// does not concern liveness.
    pub fn apply(prev: Option<StreamState>, e: &Event) -> Option<StreamState> {
        if !Self::concerns(e) {
            return None;
        }
        let mut s = prev.unwrap_or_else(|| StreamState {
            source: e.source.clone(),
            domain: e.stream.domain.clone().unwrap_or_default(),
            app: e.stream.app.clone().unwrap_or_default(),
            stream: e.stream.name.clone().unwrap_or_default(),
            live: false,
            last_started_at: None,
            last_stopped_at: None,
            last_event_at: e.occurred_at,
        });
        let slot = if e.kind == EventKind::StreamStarted {
            &mut s.last_started_at
        } else {
            &mut s.last_stopped_at
        };
        *slot = Some(slot.map_or(e.occurred_at, |t| t.max(e.occurred_at)));
        s.last_event_at = s.last_event_at.max(e.occurred_at);
        s.live = match (s.last_started_at, s.last_stopped_at) {
            (Some(start), Some(stop)) => start > stop,
            (Some(_), None) => true,
            _ => false,
        };
        Some(s)
    }
}

/// Folds `event` into its stream's state, in the transaction recording it.
pub fn update(tx: &Tx, event: &Event) -> Result<(), TxError> {
    if !StreamState::concerns(event) {
        return Ok(());
    }
    let Some(key) = StreamState::key_of(event) else {
        return Ok(());
    };
    let prev: Option<StreamState> = tx_get_json(tx, Tree::Streams, &key)?;
    if let Some(next) = StreamState::apply(prev, event) {
        tx.insert(Tree::Streams, &key, &encode(&next))?;
    }
    Ok(())
}

/// Streams seen, ordered by source, domain, app and stream.
pub fn list(
    db: &Db,
    page: &PageRequest,
    keep: impl Fn(&StreamState) -> bool,
) -> Result<Page<StreamState>, DbError> {
    db.list(Tree::Streams, Order::Ascending, page, keep)
}
