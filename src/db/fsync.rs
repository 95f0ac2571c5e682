//! What makes a flush power-safe: the engine's files `fdatasync`ed, so their
//! data, their size and the disk's write cache are on stable storage, and
//! the directories holding files that appeared since `fsync`ed too.
//!
//! The engine's log is synced every time. Other files (a large value's own
//! file, a snapshot) appear now and then: a directory whose modification
//! time moved (or that held a file changed within the last second) is read,
//! and each file in it changed since the last sync of it began is synced,
//! then the directory itself.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The files of one engine to make durable after a flush.
pub struct Durable {
    log: File,
    log_path: PathBuf,
    dirs: Vec<PathBuf>,
    /// For each of `dirs`, its modification time as last seen, and when
    /// the last sync of it began.
    seen: Mutex<Vec<(Option<SystemTime>, SystemTime)>>,
}

impl Durable {
    /// `log` is written on every flush; files in `dirs` (not recursively)
    /// come and go.
    pub fn open(log: &Path, dirs: Vec<PathBuf>) -> std::io::Result<Durable> {
        let d = Durable {
            log: File::open(log)?,
            log_path: log.to_owned(),
            seen: Mutex::new(vec![(None, SystemTime::UNIX_EPOCH); dirs.len()]),
            dirs,
        };
        // Whatever the engine created on opening is made durable once.
        d.sync()?;
        Ok(d)
    }

    /// Syncs the log, and whatever changed in the directories since last time.
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for (dir, (mtime, since)) in self.dirs.iter().zip(seen.iter_mut()) {
            let now = std::fs::metadata(dir)?.modified().ok();
            if now.is_some() && now == *mtime {
                continue;
            }
            let began = SystemTime::now();
            // A file changed this recently may still be being written: the
            // directory is looked at again next time.
            let mut settling = false;
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                if entry.path() == self.log_path {
                    continue;
                }
                let meta = entry.metadata()?;
                // A second of slack: file times are not always finer.
                let changed = meta
                    .modified()
                    .map_or(true, |m| m + std::time::Duration::from_secs(1) >= *since);
                settling |= meta
                    .modified()
                    .is_ok_and(|m| m + std::time::Duration::from_secs(1) >= began);
                if meta.is_file() && changed {
                    match File::open(entry.path()) {
                        Ok(f) => f.sync_data()?,
                        // Removed meanwhile (a snapshot replaced): nothing to keep.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            File::open(dir)?.sync_all()?;
            *mtime = if settling { None } else { now };
            *since = began;
        }
        Ok(())
    }
}
