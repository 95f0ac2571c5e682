//! `recording-archiver enqueue`: a local file queued through the running
//! daemon by a hook that runs commands (MediaMTX) or by hand.

use super::{stat_under, state_files, stream_of};
use crate::config::{OriginConfig, SourceConfig};
use crate::event::{Event, EventKind, FileFacts, FileInfo, FoundBy, Location, ParsedEvent};
use crate::time::Timestamp;

/// The event `recording-archiver enqueue` makes of a local file of
/// `source` (a MediaMTX `runOnRecordSegmentComplete` hook, a script).
pub fn enqueued(
    source: &SourceConfig,
    file: &str,
    stream: Option<String>,
    app: Option<String>,
    now: Timestamp,
) -> Result<Event, String> {
    let Some(OriginConfig::File { roots, .. }) = &source.origin else {
        return Err(format!(
            "source {:?} has no file origin to read {file:?} from",
            source.name
        ));
    };
    if stat_under(roots, file).is_none() {
        return Err(format!(
            "{file:?} is not a regular file under source {:?}'s roots",
            source.name
        ));
    }
    let location = Location::Path(file.to_owned());
    let kind = match location.extension().as_deref() {
        Some("jpg" | "jpeg" | "png" | "webp") => EventKind::SnapshotReady,
        _ => EventKind::RecordingReady,
    };
    let mut e = ParsedEvent::new(source.provider, kind, "enqueue");
    e.stream.name = stream.or_else(|| stream_of(location.file_name()));
    e.stream.app = app;
    e.file = Some(FileInfo {
        location,
        size: None,
        facts: FileFacts::default(),
    });
    let raw = serde_json::json!({"found_by": "enqueue", "file": file}).to_string();
    let mut events = vec![e.into_event(&source.name, now, &raw)];
    state_files(source, &mut events);
    let mut event = events.remove(0);
    event.found_by = FoundBy::Enqueue;
    Ok(event)
}
