//! The API token the daemon makes when `[api] token` is not set:
//! `<[state] dir>/api-token`, owner-only, made at the first start and kept,
//! so that the admin commands on this machine find it by themselves.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file's name inside `[state] dir`.
pub const FILE_NAME: &str = "api-token";

/// Random bytes in a generated token (64 hex characters).
const TOKEN_BYTES: usize = 32;

/// The shortest token the file may hold: anything shorter was not made
/// here, and would be guessable.
const MIN_LEN: usize = 32;

/// Where the generated token of the state directory `state_dir` lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// The token kept in `state_dir`; made there, durably, if there is none.
pub fn load_or_create(state_dir: &Path) -> Result<String, String> {
    let file = path(state_dir);
    if let Some(token) = read(&file)? {
        return Ok(token);
    }
    let token = crate::auth::random_hex(TOKEN_BYTES)
        .map_err(|e| format!("cannot draw random bytes for the API token: {e}"))?;
    write_durably(state_dir, &file, &token)
        .map_err(|e| format!("cannot write the API token to {}: {e}", file.display()))?;
    Ok(token)
}

/// The token in the file at `file`; `None` when there is no such file.
pub fn read(file: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let token = text.trim();
            if token.chars().count() < MIN_LEN {
                return Err(format!(
                    "{} holds no token of at least {MIN_LEN} characters: delete it, and the \
                     daemon makes a new one at its next start (or set [api] token)",
                    file.display()
                ));
            }
            Ok(Some(token.to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "cannot read the API token file {}: {e}",
            file.display()
        )),
    }
}

/// Writes a temporary file (mode 0600 from its creation: never readable by
/// others, not even for a moment), syncs it, renames it over `file` and
/// syncs the directory: after a crash there is the whole token or none.
fn write_durably(dir: &Path, file: &Path, token: &str) -> std::io::Result<()> {
    let temp = dir.join(format!("{FILE_NAME}.tmp"));
    // A crash mid-write leaves one behind; create_new must not meet it.
    match std::fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    // The umask cannot widen 0600, but a narrower one must not make the
    // owner unable to read it back.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(format!("{token}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&temp, file)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_owner_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let token = load_or_create(dir.path()).unwrap();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(dir.path()).unwrap(), token);
        assert_eq!(read(&path(dir.path())).unwrap(), Some(token));
        assert!(!dir.path().join("api-token.tmp").exists());
    }

    #[test]
    fn a_file_with_a_short_token_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "a\n").unwrap();
        let e = load_or_create(dir.path()).unwrap_err();
        assert!(e.contains("api-token"), "{e}");
        assert_eq!(read(&dir.path().join("none")).unwrap(), None);
    }
}
