//! Every record of the embedded state, for `state copy`: read tree by
//! tree, its keys parsed back where they carry what the record does not.

use super::kv::{decode, Tree};
use super::SledRepo;
use crate::id::{EntryId, JobId};
use crate::state::copy::{HlsKey, Record};
use crate::state::StateError;

impl SledRepo {
    /// Hands every record to `emit`, tree by tree (blocking: run it off
    /// the async runtime).
    pub fn export(
        &self,
        mut emit: impl FnMut(Record) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let db = &self.inner.db;
        for item in db.iter(Tree::Meta) {
            let (k, v) = item?;
            if &k[..] == b"manifest_next" {
                let n = <[u8; 8]>::try_from(&v[..])
                    .map(u64::from_be_bytes)
                    .unwrap_or(1);
                emit(Record::ManifestNext(n))?;
            }
        }
        for tree in [Tree::Events, Tree::Jobs, Tree::Rejected, Tree::Catalog] {
            for item in db.iter(tree) {
                let (_, v) = item?;
                emit(match tree {
                    Tree::Events => Record::Event(decode(tree, &v)?),
                    Tree::Jobs => Record::Job(decode(tree, &v)?),
                    Tree::Rejected => Record::Rejected(decode(tree, &v)?),
                    _ => Record::Entry(decode(tree, &v)?),
                })?;
            }
        }
        for item in db.iter(Tree::Dedupe) {
            let (k, v) = item?;
            if let Some(id) = JobId::from_bytes(&v) {
                emit(Record::Name(k.to_vec(), id))?;
            }
        }
        for tree in [Tree::Streams, Tree::HlsOpen] {
            for item in db.iter(tree) {
                let (k, v) = item?;
                emit(match tree {
                    Tree::Streams => Record::Stream(k.to_vec(), decode(tree, &v)?),
                    _ => Record::HlsOpen(k.to_vec(), decode(tree, &v)?),
                })?;
            }
        }
        for item in db.iter(Tree::Abandoned) {
            emit(Record::Abandoned(decode(Tree::Abandoned, &item?.1)?))?;
        }
        for item in db.iter(Tree::HlsParts) {
            let (k, v) = item?;
            if let Some((rec, _)) = hls_key(&k) {
                emit(Record::HlsPart(rec, decode(Tree::HlsParts, &v)?))?;
            }
        }
        for item in db.iter(Tree::HlsPending) {
            let (k, _) = item?;
            if let Some((rec, tail)) = hls_key(&k) {
                if let Some(job) = JobId::from_bytes(tail) {
                    emit(Record::HlsPending(rec, job))?;
                }
            }
        }
        for item in db.iter(Tree::ManifestQueue) {
            if let Some(id) = EntryId::from_bytes(&item?.0) {
                emit(Record::ManifestQueued(id))?;
            }
        }
        for item in db.iter(Tree::ManifestBatches) {
            emit(Record::ManifestBatch(decode(
                Tree::ManifestBatches,
                &item?.1,
            )?))?;
        }
        Ok(())
    }
}

/// `source \0 playlist \0 since \0 tail`: the recording, and the tail.
fn hls_key(k: &[u8]) -> Option<(HlsKey, &[u8])> {
    let mut parts = k.splitn(4, |b| *b == 0);
    let source = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let playlist = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let since = match std::str::from_utf8(parts.next()?).ok()? {
        "-" => -1,
        ms => ms.parse().ok()?,
    };
    let tail = parts.next()?;
    Some((
        HlsKey {
            source,
            playlist,
            since,
        },
        tail,
    ))
}
