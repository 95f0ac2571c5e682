//! Local files deleted, only ever once archived: after a verified archive
//! (`delete_after_archive`), and oldest first while a root's disk runs low
//! (`min_free_percent`). Every deletion is an event.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::unlink::{unlink_under, Expected, Kept};
use super::{closed_files, Sweep};
use crate::event::{EventKind, FileFacts, FileInfo, FoundBy, Location, ParsedEvent, Provider};
use crate::queue::{FileIdentity, Job, JobState};
use crate::state::{Callback, Repo, StateError};
use crate::time::Timestamp;

/// How long a file the sweep found must have been left alone before
/// eviction deletes it.
const SWEPT_FILE_AGE: Duration = Duration::from_secs(3600);

/// While a root's disk has less than `min` percent free, deletes the
/// oldest local files that are archived (a done job knows them by path,
/// size and time), one by one; never a file that is not.
pub async fn evict(repo: &Repo, s: &Sweep, min: f64) -> Result<usize, StateError> {
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
            let job = repo.job_for(&FileIdentity::of(&s.source, &file)).await?;
            let found_by = match &job {
                Some((_, job)) => archived(job.as_ref()),
                None => None,
            };
            // A swept file may still be open (a stalled writer): only once
            // it has not changed for an hour.
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default();
            match found_by {
                Some(FoundBy::Sweep) if age < SWEPT_FILE_AGE => {}
                Some(_) => {
                    let expected = Expected {
                        size,
                        modified_ms: Timestamp::from(modified).timestamp_millis(),
                        file_id: None,
                    };
                    let at = (s.roots.as_slice(), path.as_path());
                    if delete(
                        repo,
                        &s.source,
                        s.provider,
                        at,
                        expected,
                        "min_free_percent",
                    )
                    .await?
                    {
                        deleted += 1;
                    }
                }
                None => {} // not archived (yet): never deleted
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

/// How a known file was found, when its job is done (or was done and
/// pruned, `None`: the identities of local files outlive their jobs);
/// `None` when it is not archived.
pub(super) fn archived(job: Option<&Job>) -> Option<FoundBy> {
    match job {
        Some(j) if j.state == JobState::Done => Some(j.found_by),
        Some(_) => None,
        // Retention prunes done jobs only.
        None => Some(FoundBy::Callback),
    }
}

/// After an archive is verified and its catalog entry durable: deletes the
/// local file when its source says so, the server announced it (a file the
/// sweep found may still be open, its writer stalled) and it is still the
/// one archived: its size, and its time as stated when it was announced.
pub async fn after_archive(
    repo: &Repo,
    roots: Option<&[PathBuf]>,
    found_by: FoundBy,
    entry: &crate::catalog::CatalogEntry,
) -> Result<(), StateError> {
    let Location::Path(p) = &entry.origin else {
        return Ok(());
    };
    let Some(roots) = roots else { return Ok(()) };
    if !p.starts_with('/') || found_by == FoundBy::Sweep {
        return Ok(());
    }
    let Some(stated) = entry.file.ended_at else {
        return Ok(()); // never stated: nothing to prove it unchanged by
    };
    let path = PathBuf::from(p);
    let Some(file_id) = entry.local_file else {
        // Archived before identities were recorded: nothing proves it the same.
        tracing::warn!(path = %path.display(), "the archived local file has no recorded identity; kept");
        return Ok(());
    };
    let expected = Expected {
        size: entry.size,
        modified_ms: stated.timestamp_millis(),
        file_id: Some(file_id),
    };
    let at = (roots, path.as_path());
    delete(repo, &entry.source, entry.provider, at, expected, "archive").await?;
    Ok(())
}

/// Deletes `path`, reached from one of `roots` through real directories
/// only, if it is still the file archived (`expected`), and records it as
/// an event; true when it was deleted.
pub(super) async fn delete(
    repo: &Repo,
    source: &str,
    provider: Provider,
    (roots, path): (&[PathBuf], &Path),
    expected: Expected,
    after: &str,
) -> Result<bool, StateError> {
    let (roots, target) = (roots.to_vec(), path.to_owned());
    let removed = tokio::task::spawn_blocking(move || unlink_under(&roots, &target, expected))
        .await
        .unwrap_or_else(|e| Err(Kept::Refused(format!("cannot be deleted: {e}"))));
    match removed {
        Err(Kept::Gone) => return Ok(false),
        Err(Kept::Refused(why)) => {
            tracing::warn!(path = %path.display(), "the archived local file {why}");
            return Ok(false);
        }
        Ok(()) => {}
    }
    let size = expected.size;
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
    let deleted = vec![e.into_event(source, now, &raw)];
    repo.record_callback(Callback::untold(deleted, now)).await?;
    Ok(true)
}
