//! What makes a flush power-safe: the engine's files `fdatasync`ed, so their
//! data, their size and the disk's write cache are on stable storage, and
//! the directories holding files that appeared since `fsync`ed too.
//!
//! Files beside the log (a large value's own file, a snapshot) appear now
//! and then, written once. Each sync looks at a directory only when its
//! modification time moved, or moved within the last second (the time may
//! be too coarse to show a second change); it syncs each file not seen
//! before or whose size or modification time changed, and then the
//! directory. Those files go first and the log last, so the log never
//! durably points at a file that is not. A failed sync is final: what the
//! kernel failed to write may be dropped from its cache, so a later sync
//! that succeeds proves nothing; the store must be reopened.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How recent a directory change must be to look again next time.
const SETTLING: Duration = Duration::from_secs(1);

/// What was last seen of one directory.
#[derive(Default)]
struct Seen {
    mtime: Option<SystemTime>,
    /// Each file synced, with the size and modification time it had.
    files: HashMap<OsString, (u64, Option<SystemTime>)>,
}

/// The files of one engine to make durable after a flush.
pub struct Durable {
    log: File,
    /// Files in the directories that are not the engine's (skipped).
    skip: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    /// `Err` once a sync failed: every later one fails the same way.
    seen: Mutex<Result<Vec<Seen>, String>>,
}

impl Durable {
    /// `log` is written on every flush; files in `dirs` (not recursively)
    /// come and go; files at `skip` are not the engine's.
    pub fn open(log: &Path, dirs: Vec<PathBuf>, skip: Vec<PathBuf>) -> std::io::Result<Durable> {
        let mut skip = skip;
        skip.push(log.to_owned());
        let d = Durable {
            log: File::open(log)?,
            skip,
            seen: Mutex::new(Ok(dirs.iter().map(|_| Seen::default()).collect())),
            dirs,
        };
        // Whatever the engine created on opening is made durable once.
        d.sync()?;
        Ok(d)
    }

    /// Syncs whatever changed in the directories, then the log.
    pub fn sync(&self) -> std::io::Result<()> {
        let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let seen = match &mut *guard {
            Ok(seen) => seen,
            Err(first) => {
                return Err(std::io::Error::other(format!(
                    "an earlier sync failed ({first}); the state store must be reopened"
                )))
            }
        };
        let result = self.sync_dirs(seen).and_then(|()| self.log.sync_data());
        if let Err(e) = &result {
            *guard = Err(e.to_string());
        }
        result
    }

    fn sync_dirs(&self, seen: &mut [Seen]) -> std::io::Result<()> {
        for (dir, seen) in self.dirs.iter().zip(seen.iter_mut()) {
            let mtime = std::fs::metadata(dir)?.modified().ok();
            let settled = mtime.is_some_and(|m| {
                m.elapsed().is_ok_and(|age| age >= SETTLING) && Some(m) == seen.mtime
            });
            if settled {
                continue;
            }
            let mut changed = false;
            for entry in std::fs::read_dir(dir)? {
                // Removed meanwhile (a value rewritten, a snapshot replaced):
                // nothing of it to keep.
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if self.skip.contains(&entry.path()) {
                    continue;
                }
                let meta = match entry.metadata() {
                    Ok(m) if m.is_file() => m,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                let now = (meta.len(), meta.modified().ok());
                if seen.files.get(&entry.file_name()) == Some(&now) {
                    continue;
                }
                match File::open(entry.path()) {
                    Ok(f) => f.sync_data()?,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                seen.files.insert(entry.file_name(), now);
                changed = true;
            }
            if changed || mtime != seen.mtime {
                File::open(dir)?.sync_all()?;
            }
            if mtime != seen.mtime {
                // Entries came or went: forget the files that are gone.
                seen.files
                    .retain(|name, _| dir.join(name).try_exists().unwrap_or(true));
            }
            seen.mtime = mtime;
        }
        Ok(())
    }
}
