//! Whether `store.root` can take files, asked before any job needs it:
//! `check-config` and the daemon's start write and remove a small file there.

use std::io::ErrorKind as K;
use std::path::Path;

/// Why `store.root` cannot take files.
#[derive(Debug)]
pub struct RootTrouble {
    /// A full disk is the disk's passing state, not the config's fault:
    /// jobs wait for space (README: trouble on the store's side).
    pub full: bool,
    /// One line naming `store.root` and what to do.
    pub message: String,
}

/// Writes and removes a probe file in `root`, or, when `root` does not exist
/// yet, in the nearest directory above it (which the daemon would create
/// `root` in): nothing is left behind.
pub fn probe_root(root: &Path) -> Result<(), RootTrouble> {
    let mut dir = root;
    let exists = loop {
        match std::fs::symlink_metadata(dir) {
            Ok(_) => break true,
            Err(e) if e.kind() == K::NotFound => match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => dir = p,
                _ => break false,
            },
            Err(e) => return Err(trouble(root, dir, &e)),
        }
    };
    let dir = if exists { dir } else { Path::new(".") };
    let meta = std::fs::metadata(dir).map_err(|e| trouble(root, dir, &e))?;
    if !meta.is_dir() {
        return Err(RootTrouble {
            full: false,
            message: format!(
                "store.root = {}: {} is a file, not a directory: set store.root to a \
                 directory the daemon's user may write",
                root.display(),
                dir.display()
            ),
        });
    }
    let probe = dir.join(format!(".recording-archiver-probe-{}", std::process::id()));
    let written = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| trouble(root, dir, &e))
}

/// The trouble `e` met at `dir` while probing `root`, in words.
fn trouble(root: &Path, dir: &Path, e: &std::io::Error) -> RootTrouble {
    let why = match e.kind() {
        K::PermissionDenied => "the daemon's user may not write there".to_owned(),
        K::ReadOnlyFilesystem => "its file system is mounted read-only".to_owned(),
        K::NotADirectory => "a part of the path is a file, not a directory".to_owned(),
        K::StorageFull | K::QuotaExceeded => "the disk is full".to_owned(),
        _ => e.to_string(),
    };
    let full = matches!(e.kind(), K::StorageFull | K::QuotaExceeded);
    let todo = if full {
        "free space there; until then jobs wait"
    } else {
        "set store.root to a directory the daemon's user may write, or fix that one"
    };
    RootTrouble {
        full,
        message: format!(
            "store.root = {} cannot be written: {why} (at {}): {todo}",
            root.display(),
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::probe_root;

    #[test]
    fn a_root_under_a_file_is_refused_naming_store_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let e = probe_root(&file.join("archive")).unwrap_err();
        assert!(!e.full);
        assert!(e.message.starts_with("store.root = "), "{}", e.message);
        assert!(e.message.contains("not a directory"), "{}", e.message);
    }

    #[test]
    fn a_root_still_to_be_made_passes_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        probe_root(&dir.path().join("a/b")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
