//! Deleting a local file without being steered out of the roots: from an
//! open descriptor of the configured root down, one directory at a time,
//! never following a symbolic link (`openat` with `O_NOFOLLOW |
//! O_DIRECTORY`); the leaf looked at without following either (`fstatat`
//! with `AT_SYMLINK_NOFOLLOW`), and removed by name in the directory that
//! was checked (`unlinkat`). A path resolved again by name would follow a
//! directory swapped for a link after the archive, out of the roots.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::upload::FileId;

/// What the file must still be to be deleted.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub size: u64,
    /// Modification time, unix milliseconds.
    pub modified_ms: i64,
    /// The device and inode archived, when known.
    pub file_id: Option<FileId>,
}

/// Why a file was not deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    /// Nothing is there any more.
    Gone,
    /// It is there, but it cannot be shown to be the file archived.
    Refused(String),
}

/// Deletes `path` (absolute, under one of `roots`) if it is still the file
/// `expected` describes, reaching it only through real directories.
pub fn unlink_under(roots: &[PathBuf], path: &Path, expected: Expected) -> Result<(), Kept> {
    let refused = |why: &str| Kept::Refused(why.to_owned());
    let (root, rel) = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .find_map(|r| {
            let rel = path.strip_prefix(&r).ok()?.to_owned();
            Some((r, rel))
        })
        .ok_or_else(|| refused("lies under none of the source's roots; kept"))?;
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n.to_owned()),
            _ => return Err(refused("has a path that climbs (`..`); kept")),
        }
    }
    let Some(leaf) = names.pop() else {
        return Err(refused("is a root itself; kept"));
    };
    let mut dir = open_dir(None, root.as_os_str())
        .map_err(|e| Kept::Refused(format!("root {} cannot be opened: {e}", root.display())))?;
    for name in &names {
        dir = open_dir(Some(&dir), name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Kept::Gone,
            Some(libc::ELOOP | libc::ENOTDIR) => refused(
                "lies under a directory replaced by a symbolic link since it was archived; kept",
            ),
            _ => Kept::Refused(format!("cannot be reached: {e}")),
        })?;
    }
    let leaf = c_name(&leaf).map_err(|_| refused("has a NUL in its name; kept"))?;
    // SAFETY: a zeroed stat is a valid place for fstatat to write.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is an open directory, `leaf` NUL-terminated, `st` writable.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            leaf.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT) => Kept::Gone,
            _ => Kept::Refused(format!("cannot be looked at: {e}")),
        });
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(refused("is no longer a regular file; kept"));
    }
    let modified_ms = st.st_mtime * 1000 + st.st_mtime_nsec / 1_000_000;
    if (st.st_size as u64, modified_ms) != (expected.size, expected.modified_ms) {
        return Err(refused("changed since it was archived; kept"));
    }
    let here = FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    };
    if expected.file_id.is_some_and(|id| id != here) {
        return Err(refused(
            "is another file than the one archived (device and inode differ); kept",
        ));
    }
    // SAFETY: `dir` is an open directory and `leaf` NUL-terminated.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), leaf.as_ptr(), 0) } != 0 {
        return Err(Kept::Refused(format!(
            "cannot be deleted: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn c_name(name: &std::ffi::OsStr) -> std::io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput.into())
}

/// Opens the directory `name` inside `parent` (or `name` as a path, for the
/// root), refusing a symbolic link.
fn open_dir(parent: Option<&OwnedFd>, name: &std::ffi::OsStr) -> std::io::Result<OwnedFd> {
    let c = c_name(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `c` is NUL-terminated; `parent` (when given) an open directory.
    let fd = unsafe {
        match parent {
            // The root is the operator's configured path: taken as it is.
            None => libc::open(c.as_ptr(), flags),
            Some(p) => libc::openat(p.as_raw_fd(), c.as_ptr(), flags | libc::O_NOFOLLOW),
        }
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn expected_of(path: &Path) -> Expected {
        let m = std::fs::metadata(path).unwrap();
        Expected {
            size: m.len(),
            modified_ms: m.mtime() * 1000 + m.mtime_nsec() / 1_000_000,
            file_id: Some(FileId {
                dev: m.dev(),
                ino: m.ino(),
            }),
        }
    }

    #[test]
    fn the_file_archived_is_deleted_and_nothing_reached_through_a_link() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(root.join("swap")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let file = root.join("swap/v.flv");
        std::fs::write(&file, b"recording").unwrap();
        let archived = expected_of(&file);
        // The directory is replaced by a link to a same-size, same-time file.
        std::fs::rename(root.join("swap"), root.join("old")).unwrap();
        std::fs::write(outside.join("v.flv"), b"recording").unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(outside.join("v.flv"))
            .unwrap();
        f.set_modified(
            std::fs::metadata(root.join("old/v.flv"))
                .unwrap()
                .modified()
                .unwrap(),
        )
        .unwrap();
        std::os::unix::fs::symlink(&outside, root.join("swap")).unwrap();
        let roots = [root.clone()];
        let without_id = Expected {
            file_id: None,
            ..archived
        };
        for e in [archived, without_id] {
            assert!(matches!(
                unlink_under(&roots, &file, e),
                Err(Kept::Refused(_))
            ));
        }
        assert!(outside.join("v.flv").exists());
        // Back in place, but another file (a copy): its inode differs.
        std::fs::remove_file(root.join("swap")).unwrap();
        std::fs::create_dir(root.join("swap")).unwrap();
        std::fs::copy(root.join("old/v.flv"), &file).unwrap();
        let copy = expected_of(&file);
        let same_looks = Expected {
            modified_ms: copy.modified_ms,
            ..archived
        };
        assert!(matches!(
            unlink_under(&roots, &file, same_looks),
            Err(Kept::Refused(_))
        ));
        assert!(file.exists());
        assert_eq!(unlink_under(&roots, &file, copy), Ok(()));
        assert!(!file.exists());
        assert_eq!(unlink_under(&roots, &file, copy), Err(Kept::Gone));
        let elsewhere = outside.join("v.flv");
        assert!(matches!(
            unlink_under(&roots, &elsewhere, expected_of(&elsewhere)),
            Err(Kept::Refused(_))
        ));
    }
}
