//! An archived file read back as a stream of pieces, from either store:
//! what the daemon passes on to a browser (an HLS part, a thumbnail) holds
//! one piece in memory at a time, whatever the file's size.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::AsyncReadExt;

use super::Store;
use crate::catalog::StoredAt;
use crate::retry::Failure;

/// The pieces of a file.
pub type Pieces = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// How large a piece read from a file is.
const PIECE: usize = 256 * 1024;

/// A file's length and its bytes.
pub struct Reading {
    pub len: u64,
    pub pieces: Pieces,
}

/// The file at `path` in pieces.
pub async fn file(path: &std::path::Path) -> Result<Reading, std::io::Error> {
    let file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let pieces = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; PIECE];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    Ok(Reading {
        len,
        pieces: Box::pin(pieces),
    })
}

impl Store {
    /// The file stored at `at`, read as it is sent; `None` when it is not
    /// there (or not in this store).
    pub async fn read(&self, at: &StoredAt) -> Result<Option<Reading>, Failure> {
        match (self, at) {
            (Store::S3(s), StoredAt::S3 { key, .. }) => s.read(key).await,
            (Store::Fs(_), StoredAt::Fs { .. }) => {
                let Some(path) = self.local_file(at) else {
                    return Ok(None);
                };
                match file(&path).await {
                    Ok(r) => Ok(Some(r)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Failure::permanent(format!("{}: {e}", path.display()))),
                }
            }
            _ => Ok(None),
        }
    }
}
