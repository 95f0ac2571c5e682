//! A local-directory origin (self-hosted nginx-rtmp / SRS write recordings to
//! disk): a file is read only when, symlinks resolved, it lies under one of
//! the source's configured roots and is a regular file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;

use super::{Body, Download};
use crate::retry::Failure;

const CHUNK: usize = 256 * 1024;

/// Where `requested` really is, when that is inside one of `roots`.
///
/// An absolute path is taken as it is; a relative one is looked up under
/// each root in turn. Either way the answer is the canonical path (no `..`,
/// no symlink left), and it must start with a root's own canonical path:
/// `../../etc/passwd`, `/etc/passwd` and a symlink out of the tree all fail.
pub fn resolve_under(roots: &[PathBuf], requested: &str) -> Result<PathBuf, Failure> {
    if requested.contains('\0') {
        return Err(Failure::permanent("a file path may not contain NUL"));
    }
    let requested = Path::new(requested);
    let candidates: Vec<PathBuf> = if requested.is_absolute() {
        vec![requested.to_path_buf()]
    } else {
        roots.iter().map(|r| r.join(requested)).collect()
    };
    let mut last_missing = None;
    for candidate in candidates {
        let real = match std::fs::canonicalize(&candidate) {
            Ok(p) => p,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                last_missing = Some(candidate);
                continue;
            }
            Err(e) => return Err(Failure::permanent(format!("{}: {e}", candidate.display()))),
        };
        if is_under_a_root(roots, &real) {
            return Ok(real);
        }
        return Err(Failure::permanent(format!(
            "{} is outside the source's roots once links are resolved",
            requested.display()
        )));
    }
    // Not there yet: the platform may call back before the file is visible.
    Err(Failure::not_found(format!(
        "{} does not exist",
        last_missing.as_deref().unwrap_or(requested).display()
    )))
}

/// `real` is canonical (no `..`, no links), so a prefix test on whole path
/// components against each canonical root decides.
fn is_under_a_root(roots: &[PathBuf], real: &Path) -> bool {
    roots
        .iter()
        .any(|root| std::fs::canonicalize(root).is_ok_and(|root| real.starts_with(root)))
}

/// Opens a file under the roots for reading.
pub(super) async fn open(roots: &[PathBuf], requested: &str) -> Result<Download, Failure> {
    let (file, len, validator) = open_blocking(roots, requested).await?;
    let file_id = file_id(&file);
    Ok(Download {
        content_length: Some(len),
        md5: None,
        content_type: None,
        validator: Some(validator),
        file_id,
        body: Body::File(FileBody {
            file: tokio::fs::File::from_std(file),
            left: len,
        }),
    })
}

/// Opens the file again to read on from byte `from`, if it is still the
/// one first read (`validator`: the same size and modification time).
pub(super) async fn open_from(
    roots: &[PathBuf],
    requested: &str,
    from: u64,
    validator: &str,
) -> Result<Option<Download>, Failure> {
    let (mut file, len, now) = open_blocking(roots, requested).await?;
    if now != validator || from > len {
        return Ok(None);
    }
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(from))
        .map_err(|e| Failure::transient(format!("{requested}: {e}")))?;
    Ok(Some(Download {
        content_length: Some(len),
        md5: None,
        content_type: None,
        validator: Some(now),
        file_id: file_id(&file),
        body: Body::File(FileBody {
            file: tokio::fs::File::from_std(file),
            left: len - from,
        }),
    }))
}

/// The opened file's device and inode: the file a later deletion must
/// find, whatever its path leads to by then.
fn file_id(file: &std::fs::File) -> Option<crate::upload::FileId> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    Some(crate::upload::FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

async fn open_blocking(
    roots: &[PathBuf],
    requested: &str,
) -> Result<(std::fs::File, u64, String), Failure> {
    let roots = roots.to_vec();
    let requested = requested.to_owned();
    tokio::task::spawn_blocking(move || open_checked(&roots, &requested))
        .await
        .map_err(|e| Failure::transient(format!("file open task: {e}")))?
}

/// Resolves, opens, then checks what was opened: the descriptor's own path
/// (`/proc/self/fd`) must still be under a root, so a link swapped in between
/// the check and the open gains nothing; and it must be a regular file, not a
/// device or a pipe that never ends.
fn open_checked(
    roots: &[PathBuf],
    requested: &str,
) -> Result<(std::fs::File, u64, String), Failure> {
    let real = resolve_under(roots, requested)?;
    let not_regular = || Failure::permanent(format!("{} is not a regular file", real.display()));
    // Refused before it is opened: opening a FIFO waits for a writer, which
    // would hold a worker forever. Opened without blocking all the same, in
    // case a FIFO is swapped in after this look.
    let before = std::fs::metadata(&real)
        .map_err(|e| Failure::permanent(format!("{}: {e}", real.display())))?;
    if !before.is_file() {
        return Err(not_regular());
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&real)
    }
    .map_err(|e| Failure::permanent(format!("{}: {e}", real.display())))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(opened) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            if !is_under_a_root(roots, &opened) {
                return Err(Failure::permanent(format!(
                    "{requested} moved outside the source's roots while being opened"
                )));
            }
        }
    }
    let meta = file
        .metadata()
        .map_err(|e| Failure::permanent(format!("{}: {e}", real.display())))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    // Size and modification time, to the nanosecond: what a continuation checks.
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((file, meta.len(), format!("{}-{mtime}", meta.len())))
}

pub struct FileBody {
    file: tokio::fs::File,
    left: u64,
}

impl FileBody {
    pub(super) async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        if self.left == 0 {
            return Ok(None);
        }
        let want = (self.left as usize).min(CHUNK);
        let mut buf = BytesMut::zeroed(want);
        let n = self
            .file
            .read(&mut buf)
            .await
            .map_err(|e| Failure::transient(format!("reading the file: {e}")))?;
        if n == 0 {
            return Err(Failure::transient(format!(
                "the file ended {} bytes early (truncated while being read?)",
                self.left
            )));
        }
        buf.truncate(n);
        self.left -= n as u64;
        Ok(Some(buf.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rec");
        let outside = dir.path().join("secret");
        std::fs::create_dir_all(root.join("live")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("live/a.flv"), b"ok").unwrap();
        std::fs::write(outside.join("key"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("live/a.flv"), root.join("inner-link.flv")).unwrap();
        Tree {
            _dir: dir,
            root,
            outside,
        }
    }

    #[test]
    fn files_under_the_root_are_found_by_relative_or_absolute_path() {
        let t = tree();
        let roots = [t.root.clone()];
        let want = std::fs::canonicalize(t.root.join("live/a.flv")).unwrap();
        assert_eq!(resolve_under(&roots, "live/a.flv").unwrap(), want);
        let abs = t.root.join("live/a.flv");
        assert_eq!(resolve_under(&roots, abs.to_str().unwrap()).unwrap(), want);
        // A link that stays inside is fine.
        assert_eq!(resolve_under(&roots, "inner-link.flv").unwrap(), want);
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let t = tree();
        let roots = [t.root.clone()];
        let outside = t.outside.join("key");
        for p in [
            "../secret/key",
            "live/../../secret/key",
            "escape/key",
            outside.to_str().unwrap(),
            "/etc/passwd",
        ] {
            let e = resolve_under(&roots, p).unwrap_err();
            assert_eq!(e.kind, crate::retry::FailureKind::Permanent, "{p}: {e:?}");
        }
        assert!(resolve_under(&roots, "live/a\0.flv").is_err());
    }

    #[test]
    fn a_missing_file_may_still_appear() {
        let t = tree();
        let e = resolve_under(std::slice::from_ref(&t.root), "live/later.flv").unwrap_err();
        assert_eq!(e.kind, crate::retry::FailureKind::NotFound, "{e:?}");
    }

    #[tokio::test]
    async fn devices_are_not_read() {
        let e = open(&[PathBuf::from("/dev")], "/dev/zero")
            .await
            .err()
            .unwrap();
        assert!(format!("{e:?}").contains("not a regular file"), "{e:?}");
    }
}
