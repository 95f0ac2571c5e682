//! The byte pump every attempt shares: stream a download into an upload
//! (which hashes it) under the heartbeat, and check what arrived against
//! what the origin promised.

use tokio::sync::watch;

use super::heartbeat::Heartbeat;
use super::lease_lost;
use crate::digest::Digests;
use crate::retry::Failure;
use crate::source::Download;
use crate::store::Upload;

/// A failed attempt, and the upload it leaves, if any.
pub(super) struct Failed {
    pub failure: Failure,
    pub upload: Option<Upload>,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Failed {
            failure,
            upload: None,
        }
    }
}

/// Streams every byte from the origin into the store (which hashes them),
/// reporting progress to the heartbeat (`base` bytes done before).
pub(super) async fn pump(
    beat: &Heartbeat,
    download: &mut Download,
    upload: &mut Upload,
    mut interrupt: watch::Receiver<bool>,
    base: u64,
) -> Result<(), Failure> {
    let mut lost = beat.lost.clone();
    loop {
        // Both the download and the upload may wait long; a shutdown or a
        // lost claim cuts either short.
        let chunk = tokio::select! {
            _ = interrupt.wait_for(|i| *i) => return Err(Failure::interrupted()),
            _ = lost.wait_for(|l| *l) => return Err(lease_lost()),
            chunk = download.next_chunk() => chunk?,
        };
        let Some(chunk) = chunk else { break };
        tokio::select! {
            _ = interrupt.wait_for(|i| *i) => return Err(Failure::interrupted()),
            _ = lost.wait_for(|l| *l) => return Err(lease_lost()),
            written = upload.write(chunk) => written?,
        }
        let total = download.content_length.filter(|_| base == 0);
        beat.progress(base + upload.size(), total);
    }
    Ok(())
}

/// Checks the bytes against what the origin promised: some, as many as it
/// announced, and its MD5 where it gave one.
pub(super) fn verify_download(download: &Download, d: Digests) -> Result<Digests, Failure> {
    if d.size == 0 {
        return Err(crate::source::empty_file());
    }
    if let Some(expected) = download.content_length {
        if expected != d.size {
            return Err(Failure::integrity(format!(
                "received {} bytes, the origin announced {expected}",
                d.size
            )));
        }
    }
    if let Some(md5) = &download.md5 {
        if *md5 != d.md5 {
            return Err(Failure::integrity(format!(
                "MD5 {} differs from the origin's {md5}",
                d.md5
            )));
        }
    }
    Ok(d)
}
