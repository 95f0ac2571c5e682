//! A local directory store: each file is written to a temporary name, fsynced,
//! renamed into place, and its directory fsynced; a `.json` sidecar beside it
//! holds the catalog entry.

mod probe;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::place::Placement;
use super::KeyTemplate;
use crate::catalog::StoredAt;
use crate::retry::Failure;

pub use probe::{probe_root, RootTrouble};

/// Writes are buffered this much before reaching the file.
const WRITE_BUFFER: usize = 1 << 20;

pub struct FsStore {
    root: PathBuf,
    pub(super) template: KeyTemplate,
    pub(super) health: super::health::StoreHealth,
}

pub struct FsUpload {
    tmp: PathBuf,
    path: PathBuf,
    placement: Placement,
    /// transfer.max_file_bytes, for files whose size was not announced.
    limit: u64,
    written: u64,
    file: BufWriter<tokio::fs::File>,
}

fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    match e.kind() {
        // The directory's trouble, not the file's: ours to fix; the job
        // waits, uncounted, until the store takes writes again.
        K::StorageFull
        | K::QuotaExceeded
        | K::ReadOnlyFilesystem
        | K::PermissionDenied
        | K::NotADirectory => Failure::store(format!(
            "store: {what} {}: {e}: check the free space and permissions under store.root \
             (a directory the daemon's user may write)",
            path.display()
        )),
        _ => Failure::transient(format!("{what} {}: {e}", path.display())),
    }
}

impl FsStore {
    pub fn new(root: PathBuf, template: KeyTemplate) -> Self {
        FsStore {
            root,
            template,
            health: Default::default(),
        }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(super) async fn begin(
        &self,
        key: String,
        attempt: &str,
        limit: u64,
    ) -> Result<FsUpload, Failure> {
        let placement =
            Placement::find(&key, |k: String| recorded_sha256(self.path_of(&k))).await?;
        let path = self.path_of(&placement.key);
        let parent = path.parent().unwrap_or(&self.root).to_owned();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| io_failure("cannot create", &parent, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Named after the job's attempt: a retry by the same claim reuses it.
        let tmp = parent.join(format!(".{name}.part-{attempt}"));
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_failure("cannot create", &tmp, e))?;
        Ok(FsUpload {
            tmp,
            path,
            placement,
            limit,
            written: 0,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
        })
    }

    pub(super) async fn check(&self) -> Result<(), String> {
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(|e| format!("store root {} is not usable: {e}", self.root.display()))
    }
}

impl FsUpload {
    pub(super) async fn write(&mut self, chunk: &[u8]) -> Result<(), Failure> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(Failure::permanent(format!(
                "more than {} bytes arrived (transfer.max_file_bytes)",
                self.limit
            )));
        }
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| io_failure("cannot write", &self.tmp, e))
    }

    /// The key the file will have.
    pub(super) fn key(&self) -> &str {
        &self.placement.key
    }

    pub(super) async fn finish(
        &mut self,
        sha256: &str,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        self.file
            .flush()
            .await
            .map_err(|e| io_failure("cannot write", &self.tmp, e))?;
        self.file
            .get_ref()
            .sync_all()
            .await
            .map_err(|e| io_failure("cannot fsync", &self.tmp, e))?;
        if let Some(existing) = self.placement.same_bytes(sha256) {
            // The very same bytes are already archived there: no second copy.
            let existing = self
                .path
                .with_file_name(Path::new(existing).file_name().unwrap_or_default());
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Ok(StoredAt::Fs {
                path: existing.to_string_lossy().into_owned(),
            });
        }
        // A link, not a rename: it fails if a file appeared there meanwhile,
        // where a rename would replace it.
        tokio::fs::hard_link(&self.tmp, &self.path)
            .await
            .map_err(|e| io_failure("cannot link into", &self.path, e))?;
        let _ = tokio::fs::remove_file(&self.tmp).await;
        let mut sidecar_path = self.path.clone().into_os_string();
        sidecar_path.push(".json");
        write_durably(Path::new(&sidecar_path), &sidecar).await?;
        sync_dir(self.path.parent()).await?;
        Ok(StoredAt::Fs {
            path: self.path.to_string_lossy().into_owned(),
        })
    }

    pub(super) async fn abort(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

/// Whether a file is at `path` and, from its sidecar, the SHA-256 it holds.
async fn recorded_sha256(path: PathBuf) -> Result<Option<Option<String>>, Failure> {
    match tokio::fs::try_exists(&path).await {
        Ok(false) => return Ok(None),
        Ok(true) => {}
        Err(e) => return Err(io_failure("cannot look at", &path, e)),
    }
    let mut sidecar = path.into_os_string();
    sidecar.push(".json");
    let sha = tokio::fs::read(&sidecar)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["sha256"].as_str().map(str::to_owned));
    Ok(Some(sha))
}

/// Writes `bytes` to `path` through a temporary file, fsynced before the rename.
async fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut tmp = path.to_owned().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| io_failure("cannot create", &tmp, e))?;
    f.write_all(bytes)
        .await
        .map_err(|e| io_failure("cannot write", &tmp, e))?;
    f.sync_all()
        .await
        .map_err(|e| io_failure("cannot fsync", &tmp, e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| io_failure("cannot rename into", path, e))
}

impl FsStore {
    /// Writes `key` unless a file is there (linked into place, which fails
    /// rather than replace): true when written.
    pub(super) async fn put_new(&self, key: &str, body: &[u8]) -> Result<bool, Failure> {
        let path = self.path_of(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io_failure("cannot create", dir, e))?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        write_durably(&tmp, body).await?;
        let linked = tokio::fs::hard_link(&tmp, &path).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        match linked {
            Ok(()) => {
                sync_dir(path.parent()).await?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_failure("cannot link into", &path, e)),
        }
    }

    /// The file at `key`, if any.
    pub(super) async fn get(&self, key: &str) -> Result<Option<Bytes>, Failure> {
        read_if_there(&self.path_of(key)).await
    }

    /// Every key (path under the root, `/`-separated) under `prefix`.
    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let root = self.root.clone();
        let start = self.path_of(prefix);
        let walked = tokio::task::spawn_blocking(move || {
            // Symlinks are not followed: keys are what lies under the root.
            let mut keys: Vec<String> = walkdir::WalkDir::new(start)
                .min_depth(1)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
                .filter_map(|e| {
                    let rel = e.path().strip_prefix(&root).ok()?;
                    Some(rel.to_string_lossy().replace('\\', "/"))
                })
                .collect();
            keys.sort();
            keys
        });
        walked
            .await
            .map_err(|e| Failure::transient(format!("listing {prefix}: {e}")))
    }
}

/// The bytes of the file at `path`, if there is one.
pub(super) async fn read_if_there(path: &Path) -> Result<Option<Bytes>, Failure> {
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(Bytes::from(b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_failure("cannot read", path, e)),
    }
}

/// Makes a rename durable: fsync the directory that holds it.
async fn sync_dir(dir: Option<&Path>) -> Result<(), Failure> {
    let Some(dir) = dir else { return Ok(()) };
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| io_failure("cannot open", dir, e))?;
    d.sync_all()
        .await
        .map_err(|e| io_failure("cannot fsync", dir, e))
}
