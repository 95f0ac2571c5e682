//! The two ends of a job that others hear of, in sled: filed with its
//! catalog entry, or failed for good; each one transaction with the
//! notifications it calls for.

use std::sync::Mutex;

use super::catalog::{file, held};
use super::hls;
use super::kv::{Tx, TxError};
use super::queue::push::{push_notices, Notice, Pushed};
use super::Inner;
use crate::catalog::CatalogEntry;
use crate::queue::{Job, JobState};
use crate::state::moves;
use crate::state::notices::{archived_body, failed_body};
use crate::state::queue::Guard;
use crate::state::{Filed, Filing, HlsRecording, NoticeTarget, StateError};
use crate::time::Timestamp;

impl Inner {
    /// See [`crate::state::CatalogRepo::file_archived`].
    pub(super) fn file_archived(&self, job: &Job, filing: Filing) -> Result<Filed, StateError> {
        let Filing {
            entry,
            manifest,
            notices,
            now,
        } = filing;
        let ids = self.ids(notices.len(), &now)?;
        let pushed: Mutex<Vec<Pushed>> = Mutex::default();
        let also = |tx: &Tx| {
            // An entry filed before (found beside its object again, its
            // file announced anew) is in the manifests and told of already.
            let again = held(tx, &entry.id)?;
            file_entry(tx, &entry)?;
            if manifest && !again && entry.file.playlist.is_none() {
                super::manifest::queue(tx, &entry.id)?;
            }
            let mut told = Vec::new();
            if !again {
                let (subject, body) = (entry.id.to_string(), archived_body(&entry));
                let notice = Notice {
                    kind: "archived",
                    source: &job.source,
                    subject: &subject,
                    event_id: entry.event_id,
                    body: &body,
                };
                told = push_notices(tx, &ids, &notices, &notice, now)?;
            }
            // Set, not added: a transaction may run more than once.
            *pushed.lock().unwrap_or_else(|e| e.into_inner()) = told;
            Ok(())
        };
        let done = moves::archived(entry.size, now);
        let job = self.transition(job.id, Guard::Claim(job.claims), done, Some(&also))?;
        let pushed = pushed.into_inner().unwrap_or_else(|e| e.into_inner());
        let notified = job.is_some() && !pushed.is_empty();
        if job.is_some() {
            pushed.iter().for_each(|p| self.pushed(p));
        }
        Ok(Filed { job, notified })
    }

    /// See [`crate::state::CatalogRepo::file_found`].
    pub(super) fn file_found(
        &self,
        entry: &CatalogEntry,
        manifest: bool,
    ) -> Result<bool, StateError> {
        self.db.transaction(|tx| {
            if held(tx, &entry.id)? {
                return Ok(false);
            }
            file(tx, entry)?;
            if manifest {
                super::manifest::queue(tx, &entry.id)?;
            }
            Ok(true)
        })
    }

    /// See [`crate::state::QueueRepo::fail`].
    pub(super) fn fail(
        &self,
        job: &Job,
        error: &str,
        notices: &[NoticeTarget],
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        let ids = self.ids(notices.len(), &now)?;
        let pushed: Mutex<Vec<Pushed>> = Mutex::default();
        let tell = |tx: &Tx| {
            let mut failed = job.clone();
            failed.state = JobState::Failed;
            failed.last_error = Some(error.to_owned());
            let body = failed_body(&failed, error);
            let subject = crate::state::notices::failed_subject(job);
            let notice = Notice {
                kind: "failed",
                source: &job.source,
                subject: &subject,
                event_id: job.event_id,
                body: &body,
            };
            *pushed.lock().unwrap_or_else(|e| e.into_inner()) =
                push_notices(tx, &ids, notices, &notice, now)?;
            Ok(())
        };
        let change = moves::failed(error, now);
        let moved = self.transition(job.id, Guard::Claim(job.claims), change, Some(&tell))?;
        if moved.is_some() {
            let pushed = pushed.into_inner().unwrap_or_else(|e| e.into_inner());
            pushed.iter().for_each(|p| self.pushed(p));
        }
        Ok(moved)
    }
}

/// Files an archived file: its catalog entry (taking in the parts of an
/// HLS recording kept ahead of it), or, for a segment announced ahead of
/// its playlist, its part.
fn file_entry(tx: &Tx, entry: &CatalogEntry) -> Result<(), TxError> {
    if let Some(playlist) = &entry.file.playlist {
        let part = crate::state::catalog::segment_part(entry);
        let rec = HlsRecording::of(&entry.source, playlist, &entry.file);
        return hls::file_part(tx, &rec, &part);
    }
    file(tx, entry)?;
    let rec = HlsRecording::of(&entry.source, entry.origin.as_str(), &entry.file);
    hls::consume(tx, &rec, &entry.parts)
}
