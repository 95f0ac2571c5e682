//! Streams seen: who is live now, from the start/stop events received.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// The current (or last) publish session: the id of the start event
    /// that began it.
    #[serde(default)]
    pub session: Option<String>,
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
    pub fn apply(prev: Option<StreamState>, e: &Event, gap: Duration) -> Option<StreamState> {
        if !Self::concerns(e) {
            return None;
        }
        // A start begins a session, unless it is a reconnect: the stream
        // still live, or stopped less than `gap` before.
        let reconnect = prev
            .as_ref()
            .is_some_and(|p| p.session.is_some() && (p.live || p.within(e.occurred_at, gap)));
        let mut s = prev.unwrap_or_else(|| StreamState {
            source: e.source.clone(),
            domain: e.stream.domain.clone().unwrap_or_default(),
            app: e.stream.app.clone().unwrap_or_default(),
            stream: e.stream.name.clone().unwrap_or_default(),
            live: false,
            last_started_at: None,
            last_stopped_at: None,
            last_event_at: e.occurred_at,
            session: None,
        });
        if e.kind == EventKind::StreamStarted && !reconnect {
            s.session = Some(e.id.to_string());
        }
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

/// How long a start with no recording since is believed when no stop
/// comes: the longest recording cycle the platforms offer.
pub const UNHEARD_LIMIT: chrono::TimeDelta = chrono::TimeDelta::hours(6);

impl StreamState {
    /// Whether the stream is live at `now`. A stop callback can be lost
    /// (nginx-rtmp and SRS never send one twice), so a start is believed
    /// only while the stream keeps being heard of: until its latest
    /// recording's length plus `gap` (`state.session_gap_secs`) after that
    /// recording ended, or [`UNHEARD_LIMIT`] after the start when none
    /// ended since. `last_recording`: the latest recording's end and length.
    pub fn live_at(
        &self,
        last_recording: Option<(Timestamp, Option<f64>)>,
        gap: Duration,
        now: Timestamp,
    ) -> bool {
        let (Some(start), true) = (self.last_started_at, self.live) else {
            return false;
        };
        let gap = chrono::Duration::from_std(gap).unwrap_or_default();
        let until = match last_recording.filter(|(end, _)| *end >= start) {
            Some((end, length)) => {
                let ms = length
                    .filter(|l| l.is_finite() && *l > 0.0)
                    .map_or(0.0, |l| l * 1000.0);
                end + chrono::Duration::milliseconds(ms as i64) + gap
            }
            None => start + UNHEARD_LIMIT.max(gap),
        };
        now <= until
    }

    /// True when `at` lies no later than `gap` after the last stop.
    pub fn within(&self, at: Timestamp, gap: Duration) -> bool {
        let gap = chrono::Duration::from_std(gap).unwrap_or_default();
        self.last_stopped_at.is_some_and(|stop| at <= stop + gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_whose_stop_was_lost_expires_when_the_stream_goes_quiet() {
        let at = |m: i64| chrono::DateTime::from_timestamp(1_700_000_000 + m * 60, 0).unwrap();
        let s = StreamState {
            source: "s".into(),
            domain: String::new(),
            app: String::new(),
            stream: "x".into(),
            live: true,
            last_started_at: Some(at(0)),
            last_stopped_at: None,
            last_event_at: at(0),
            session: None,
        };
        let gap = Duration::from_secs(60);
        // No recording yet: believed for six hours.
        assert!(s.live_at(None, gap, at(359)));
        assert!(!s.live_at(None, gap, at(361)));
        // 30-minute recordings: quiet for a cycle and the gap, it has ended.
        let rec = Some((at(60), Some(1800.0)));
        assert!(s.live_at(rec, gap, at(91)));
        assert!(!s.live_at(rec, gap, at(92)));
        // A recording from before this start does not count.
        assert!(s.live_at(Some((at(-10), Some(60.0))), gap, at(300)));
        let stopped = StreamState { live: false, ..s };
        assert!(!stopped.live_at(rec, gap, at(61)));
    }
    use crate::event::{ParsedEvent, Provider};
    use crate::id::EventId;

    fn event(kind: EventKind, secs: i64, id: u8) -> Event {
        let mut p = ParsedEvent::new(Provider::NginxRtmp, kind, "x");
        p.stream.name = Some("s".into());
        p.occurred_at = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0);
        let mut e = p.into_event("src", chrono::Utc::now(), "");
        e.id = EventId::from_bytes(&[id; 16]).unwrap();
        e
    }

    #[test]
    fn a_restart_within_the_gap_is_the_same_session_and_one_after_it_a_new_one() {
        let gap = Duration::from_secs(60);
        let s = StreamState::apply(None, &event(EventKind::StreamStarted, 0, 1), gap).unwrap();
        let first = s.session.clone().unwrap();
        let s = StreamState::apply(Some(s), &event(EventKind::StreamStopped, 100, 2), gap).unwrap();
        let s = StreamState::apply(Some(s), &event(EventKind::StreamStarted, 130, 3), gap).unwrap();
        assert_eq!(s.session.as_deref(), Some(first.as_str()), "a reconnect");
        let s = StreamState::apply(Some(s), &event(EventKind::StreamStopped, 200, 4), gap).unwrap();
        let s = StreamState::apply(Some(s), &event(EventKind::StreamStarted, 300, 5), gap).unwrap();
        assert_ne!(s.session.as_deref(), Some(first.as_str()), "a new publish");
    }
}
