//! Files on this machine, for sources with a `file` origin (self-hosted
//! nginx-rtmp, SRS, MediaMTX). A file a callback announces is stated as the
//! callback arrives: its canonical path, size and modification time make its
//! identity, so the sweep, finding the same file, knows it. The sweep queues
//! every closed file under the roots that no job knows: a hook lost (the
//! servers send each once), skipped at shutdown, or files written while the
//! daemon was down.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::background::{Next, Worker};
use crate::config::{sweep_matcher, Config, OriginConfig, SourceConfig};
use crate::event::{
    Event, EventKind, FileFacts, FileInfo, FoundBy, Location, ParsedEvent, Provider,
};
use crate::queue::{FileIdentity, JobState};
use crate::state::{Callback, Repo, StateError};
use crate::time::Timestamp;

mod enqueue;
mod free;
mod unlink;

pub use enqueue::enqueued;
pub use free::{after_archive, evict};
use free::{archived, delete};

/// Sweeps recorded per batch: each batch is one durable commit.
const BATCH: usize = 100;

/// One source's sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    source: String,
    provider: Provider,
    roots: Vec<PathBuf>,
    every: Duration,
    settle: Duration,
    glob: Option<globset::GlobMatcher>,
    delete_after_archive: bool,
    /// Also the sweep's: is it to look for unannounced files at all.
    sweep: bool,
    min_free_percent: Option<f64>,
}

impl Sweep {
    /// The sweeps the configuration asks for.
    pub fn all(config: &Config) -> Vec<Sweep> {
        config
            .sources
            .iter()
            .filter_map(|s| match &s.origin {
                Some(OriginConfig::File {
                    roots,
                    sweep,
                    sweep_interval_secs,
                    settle_secs,
                    sweep_glob,
                    delete_after_archive,
                    min_free_percent,
                }) if *sweep || min_free_percent.is_some() => Some(Sweep {
                    source: s.name.clone(),
                    provider: s.provider,
                    roots: roots.clone(),
                    every: Duration::from_secs((*sweep_interval_secs).max(1)),
                    settle: Duration::from_secs(*settle_secs),
                    // Refused at config check when it does not compile.
                    glob: sweep_glob.as_deref().and_then(|g| sweep_matcher(g).ok()),
                    delete_after_archive: *delete_after_archive,
                    sweep: *sweep,
                    min_free_percent: *min_free_percent,
                }),
                _ => None,
            })
            .collect()
    }
}

/// States the local files `events` announce (a source with a file origin):
/// the path made canonical, the size and, unless the sender said when the
/// recording ended, the modification time as its end.
pub fn state_files(source: &SourceConfig, events: &mut [Event]) {
    let Some(OriginConfig::File { roots, .. }) = &source.origin else {
        return;
    };
    for file in events.iter_mut().filter_map(|e| e.file.as_mut()) {
        // A segment's playlist is named as canonically as the segment, so
        // the playlist's job finds the segment archived ahead of it.
        if let Some(pl) = file.facts.playlist.as_mut() {
            *pl = canonical_dir(pl);
        }
        let Location::Path(p) = &file.location else {
            continue;
        };
        let Some((path, size, modified)) = stat_under(roots, p) else {
            continue; // not there yet: the job looks when it runs
        };
        file.location = Location::Path(path.to_string_lossy().into_owned());
        file.size = Some(size);
        file.facts.ended_at = file.facts.ended_at.or(Some(modified.into()));
    }
}

/// `path` with its directory made canonical (the file itself may not be
/// written yet); as it is when the directory cannot be.
fn canonical_dir(path: &str) -> String {
    let p = std::path::Path::new(path);
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) if p.is_absolute() => std::fs::canonicalize(dir)
            .map(|d| d.join(name).to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_owned()),
        _ => path.to_owned(),
    }
}

pub(crate) fn stat_under(roots: &[PathBuf], p: &str) -> Option<(PathBuf, u64, SystemTime)> {
    let path = crate::source::file::resolve_under(roots, p).ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    // A device or a FIFO is left to the job, which refuses it with its reason.
    if !meta.is_file() {
        return None;
    }
    Some((path, meta.len(), meta.modified().ok()?))
}

/// One source's sweep and disk-space keeping, run at its interval, the
/// first at once (files written while the daemon was down).
pub struct Sweeper {
    pub repo: Repo,
    pub sweep: Sweep,
    /// Notified when the sweep queued jobs.
    pub wake: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl Worker for Sweeper {
    fn name(&self) -> String {
        format!("sweep of {}", self.sweep.source)
    }

    async fn work(&mut self) -> Next {
        let s = &self.sweep;
        if let Some(min) = s.min_free_percent {
            if let Err(e) = evict(&self.repo, s, min).await {
                tracing::warn!(source = %s.source, error = %e, "freeing disk space failed; trying again later");
            }
        }
        if !s.sweep {
            return Next::Idle;
        }
        match sweep_once(&self.repo, s).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(source = %s.source, files = n, "the sweep found files no callback announced");
                self.wake.notify_waiters();
            }
            Err(e) => {
                tracing::warn!(source = %s.source, error = %e, "the sweep failed; trying again later")
            }
        }
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.sweep.every).await;
    }
}

/// One pass: every closed file no job knows becomes an event and a job.
pub async fn sweep_once(repo: &Repo, s: &Sweep) -> Result<usize, StateError> {
    let walked = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || closed_files(&s, SystemTime::now()))
            .await
            .unwrap_or_default()
    };
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    for (path, size, modified) in walked {
        let event = found(s, &path, size, modified, now);
        let Some(file) = &event.file else { continue };
        // Known with its size and time, or announced before it could be stated.
        let bare = FileInfo {
            location: file.location.clone(),
            size: None,
            facts: FileFacts::default(),
        };
        let known = repo.job_for(&FileIdentity::of(&s.source, file)).await?;
        if let Some((_, job)) = &known {
            // Archived, but a crash came before its deletion: finish it
            // (same path, size and time: the very file archived), unless
            // the sweep itself found it (it may still be open).
            let by = archived(job.as_ref());
            if s.delete_after_archive && by.is_some_and(|b| b != FoundBy::Sweep) {
                let expected = unlink::Expected {
                    size,
                    modified_ms: Timestamp::from(modified).timestamp_millis(),
                    file_id: None,
                };
                let at = (s.roots.as_slice(), path.as_path());
                delete(repo, &s.source, s.provider, at, expected, "sweep").await?;
            }
            continue;
        }
        // Announced before it could be stated: known, unless that job
        // failed (the file was not there), when this is its chance; or a
        // playlist with segments of a later recording kept, its stop lost.
        // (Only a playlist written since that recording began is its: the
        // previous recording's, unchanged, names the previous segments.)
        let since = unclosed_since(repo, s, &file.location)
            .await?
            .filter(|since| *since <= Timestamp::from(modified));
        if let Some((_, job)) = repo.job_for(&FileIdentity::of(&s.source, &bare)).await? {
            let failed = job.as_ref().is_some_and(|j| j.state == JobState::Failed);
            let takes_them = match (&job, since) {
                (_, None) => true,
                (Some(j), Some(since)) => recording_since(repo, j).await? >= Some(since),
                (None, Some(_)) => false,
            };
            if !failed && takes_them {
                continue;
            }
        }
        // A playlist whose recording's stop was lost takes its segments in.
        let mut event = event;
        if let Some(since) = since {
            if let Some(f) = event.file.as_mut() {
                f.facts.playlist_since = Some(since);
            }
        }
        events.push(event);
    }
    let n = events.len();
    while !events.is_empty() {
        let rest = events.split_off(events.len().min(BATCH));
        repo.record_callback(Callback::untold(events, now)).await?;
        events = rest;
    }
    Ok(n)
}

/// The HLS recording a playlist's job archives, by when it began.
async fn recording_since(
    repo: &Repo,
    job: &crate::queue::Job,
) -> Result<Option<Timestamp>, StateError> {
    let event = repo.event(job.event_id).await?;
    Ok(event.and_then(|e| e.file.and_then(|f| f.facts.playlist_since)))
}

/// For a playlist: when its latest recording with segments archived but no
/// catalog entry (its stop lost) began.
async fn unclosed_since(
    repo: &Repo,
    s: &Sweep,
    at: &Location,
) -> Result<Option<Timestamp>, StateError> {
    if !crate::hls::is_playlist(at) {
        return Ok(None);
    }
    repo.hls_unclosed(&s.source, at.as_str()).await
}

/// A stream name read from a file name: up to its first `-` or `.`.
pub(crate) fn stream_of(name: &str) -> Option<String> {
    name.split(['-', '.'])
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// Regular files under the roots, unmodified for `settle`, matching the glob.
pub(crate) fn closed_files(s: &Sweep, now: SystemTime) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut found = Vec::new();
    // Symlinks are not followed below a root; subfolders 16 deep at most.
    let walked = s.roots.iter().flat_map(|r| {
        walkdir::WalkDir::new(r)
            .min_depth(1)
            .max_depth(17)
            .into_iter()
            .flatten()
    });
    for entry in walked {
        let name = entry.file_name().to_string_lossy().into_owned();
        // SRS writes a DVR file as `*.tmp` and renames it once closed.
        let open = name.ends_with(".tmp") || name.starts_with('.');
        if open
            || !entry.file_type().is_file()
            || !s.glob.as_ref().is_none_or(|g| g.is_match(&name))
        {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(modified) = meta.modified() else {
            continue;
        };
        if now.duration_since(modified).unwrap_or_default() < s.settle {
            continue; // still being written, perhaps
        }
        if let Ok(canonical) = std::fs::canonicalize(entry.path()) {
            found.push((canonical, meta.len(), modified));
        }
    }
    found.sort();
    found
}

/// The event a swept file becomes. Its stream is read from the file name,
/// up to its first `-` or `.` (nginx-rtmp's `name-time.flv`, SRS's
/// `name.time.flv`); its app is the directory it lies in.
fn found(s: &Sweep, path: &Path, size: u64, modified: SystemTime, now: Timestamp) -> Event {
    let location = Location::Path(path.to_string_lossy().into_owned());
    let kind = match location.extension().as_deref() {
        Some("jpg" | "jpeg" | "png" | "webp") => EventKind::SnapshotReady,
        _ => EventKind::RecordingReady,
    };
    let mut e = ParsedEvent::new(s.provider, kind, "sweep");
    e.stream.name = stream_of(location.file_name());
    e.stream.app = path
        .parent()
        .filter(|p| !s.roots.iter().any(|r| r == p))
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let modified: Timestamp = modified.into();
    e.occurred_at = Some(modified);
    e.file = Some(FileInfo {
        location,
        size: Some(size),
        facts: FileFacts {
            ended_at: Some(modified),
            ..FileFacts::default()
        },
    });
    let raw = serde_json::json!({"found_by": "sweep", "path": path, "size": size,
        "modified_at": modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)})
    .to_string();
    let mut event = e.into_event(&s.source, now, &raw);
    event.found_by = FoundBy::Sweep;
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names() {
        let glob_match = |g: &str, n: &str| sweep_matcher(g).unwrap().is_match(n);
        assert!(glob_match("*.flv", "test-1700000000.flv"));
        assert!(!glob_match("*.flv", "test.flv.tmp"));
        assert!(glob_match("t?st*", "test-1.mp4"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acd"));
        assert!(glob_match("*.{flv,mp4}", "cam-1.mp4"));
        assert!(glob_match("cam[0-9]-*", "cam7-1.flv"));
        assert!(sweep_matcher("cam[0-9").is_err());
    }
}
