//! Local files deleted, only ever once archived: after a verified archive
//! (`delete_after_archive`), and oldest first while a root's disk runs low
//! (`min_free_percent`). Every deletion is an event.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{closed_files, Sweep};
use crate::db::{DbError, Tree};
use crate::event::{EventKind, FileFacts, FileInfo, Location, ParsedEvent, Provider};
use crate::queue::{FileIdentity, Queue};
use crate::time::Timestamp;

/// While a root's disk has less than `min` percent free, deletes the
/// oldest local files that are archived (a done job knows them by path,
/// size and time), one by one; never a file that is not.
pub async fn evict(queue: &Queue, s: &Sweep, min: f64) -> Result<usize, DbError> {
    let mut deleted = 0;
    for root in &s.roots {
        if free_percent(root).is_none_or(|f| f >= min) {
            continue;
        }
        let all = Sweep {
            roots: vec![root.clone()],
            settle: Duration::ZERO,
            glob: None,
            ..s.clone()
        };
        let mut files = {
            let all = all.clone();
            tokio::task::spawn_blocking(move || closed_files(&all, SystemTime::now()))
                .await
                .unwrap_or_default()
        };
        files.sort_by_key(|(_, _, modified)| *modified);
        for (path, size, modified) in files {
            if free_percent(root).is_none_or(|f| f >= min) {
                break;
            }
            let file = FileInfo {
                location: Location::Path(path.to_string_lossy().into_owned()),
                size: Some(size),
                facts: FileFacts {
                    ended_at: Some(modified.into()),
                    ..FileFacts::default()
                },
            };
            let job = queue
                .db()
                .get(Tree::Dedupe, FileIdentity::of(&s.source, &file).as_bytes())?;
            match job {
                Some(job) if job_is_done(queue, &job)? => {
                    delete(
                        queue,
                        &s.source,
                        s.provider,
                        &path,
                        size,
                        "min_free_percent",
                    )
                    .await?;
                    deleted += 1;
                }
                _ => {} // not archived (yet): never deleted
            }
        }
        if free_percent(root).is_some_and(|f| f < min) {
            tracing::warn!(root = %root.display(), "below min_free_percent, and nothing archived is left to delete");
        }
    }
    Ok(deleted)
}

/// The share of the file system holding `path` that is free to use, in percent.
fn free_percent(path: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; all zeroes is a valid value.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a valid place to write.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 || s.f_blocks == 0 {
        return None;
    }
    Some(s.f_bavail as f64 * 100.0 / s.f_blocks as f64)
}

pub(super) fn job_is_done(queue: &Queue, id: &[u8]) -> Result<bool, DbError> {
    let Some(id) = crate::id::JobId::from_bytes(id) else {
        return Ok(false);
    };
    Ok(queue
        .get(id)?
        .is_some_and(|j| j.state == crate::queue::JobState::Done))
}

/// After an archive is verified and its catalog entry durable: deletes the
/// local file when its source says so and the file is still the one
/// archived (its size, and its time as stated when it was announced).
pub async fn after_archive(
    queue: &Queue,
    deletes: bool,
    entry: &crate::catalog::CatalogEntry,
) -> Result<(), DbError> {
    let Location::Path(p) = &entry.origin else {
        return Ok(());
    };
    if !deletes || !p.starts_with('/') {
        return Ok(());
    }
    let path = PathBuf::from(p);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(()); // gone already
    };
    let same_time = match (entry.file.ended_at, meta.modified()) {
        (Some(stated), Ok(now)) => {
            stated.timestamp_millis() == Timestamp::from(now).timestamp_millis()
        }
        _ => false,
    };
    if !meta.is_file() || meta.len() != entry.size || !same_time {
        tracing::warn!(path = %path.display(), "the local file changed since it was archived; kept");
        return Ok(());
    }
    delete(
        queue,
        &entry.source,
        entry.provider,
        &path,
        entry.size,
        "archive",
    )
    .await
}

/// Deletes `path` and records it as an event.
pub(super) async fn delete(
    queue: &Queue,
    source: &str,
    provider: Provider,
    path: &Path,
    size: u64,
    after: &str,
) -> Result<(), DbError> {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete the archived local file");
        return Ok(());
    }
    tracing::info!(path = %path.display(), "deleted the local file, archived and verified");
    let mut e = ParsedEvent::new(
        provider,
        EventKind::LocalFileDeleted,
        "delete_after_archive",
    );
    e.file = Some(FileInfo {
        location: Location::Path(path.to_string_lossy().into_owned()),
        size: Some(size),
        facts: FileFacts::default(),
    });
    let raw = serde_json::json!({"deleted": path, "size": size, "after": after}).to_string();
    let now = chrono::Utc::now();
    crate::ingest::record_events(queue, vec![e.into_event(source, now, &raw)], now).await?;
    Ok(())
}
