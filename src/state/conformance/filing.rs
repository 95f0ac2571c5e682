//! Filing what was archived and failing for good: each one operation with
//! everything it brings (catalog entry, HLS parts, manifest queue,
//! notifications), or nothing of it when the claim is lost.

use std::collections::BTreeMap;

use super::{record, recording, secs, t0, Engine, LEASE};
use crate::catalog::{CatalogEntry, Part, Role, StoredAt};
use crate::event::{FileFacts, Location, StreamRef};
use crate::id::EntryId;
use crate::providers::Provider;
use crate::queue::{FileKind, Job, JobState, Lane};
use crate::state::{Filing, HlsRecording, HourTally, NoticeTarget, PageRequest, Repo};
use crate::time::Timestamp;

fn target() -> NoticeTarget {
    NoticeTarget {
        target: "hook".into(),
        url: "https://example.com/hook".into(),
    }
}

/// A claimed job for `url`.
async fn claimed(repo: &Repo, url: &str, at: Timestamp) -> Job {
    record(repo, vec![recording(url, None, at)], at).await;
    repo.claim(Lane::Files, at, LEASE).await.unwrap().unwrap()
}

async fn entry_of(repo: &Repo, job: &Job, file: FileFacts, at: Timestamp) -> CatalogEntry {
    CatalogEntry {
        id: repo.new_entry_id(at).await.unwrap(),
        found_by: Default::default(),
        kind: FileKind::Recording,
        source: job.source.clone(),
        provider: Provider::Jdcloud,
        stream: StreamRef {
            name: Some("s".into()),
            ..StreamRef::default()
        },
        file,
        origin: job.origin.clone(),
        store: StoredAt::Fs {
            path: format!("/a/{}", job.id),
        },
        size: 7,
        sha256: "ab".into(),
        md5: "cd".into(),
        archived_at: at,
        job_id: job.id,
        event_id: job.event_id,
        params: BTreeMap::new(),
        session: None,
        parts: Vec::new(),
        instance_id: Some("i".into()),
        local_file: None,
    }
}

fn filing(entry: &CatalogEntry, told: bool) -> Filing {
    Filing {
        entry: entry.clone(),
        manifest: true,
        notices: if told { vec![target()] } else { Vec::new() },
        now: entry.archived_at,
    }
}

async fn notifications(repo: &Repo) -> Vec<Job> {
    let keep = Box::new(|j: &Job| j.notification.is_some());
    repo.jobs(PageRequest::new(100, None).unwrap(), keep)
        .await
        .unwrap()
        .items
}

async fn queued_for_manifests(repo: &Repo) -> usize {
    match repo.cut_manifest_batches(100).await.unwrap() {
        Some(b) => b.iter().map(|b| b.ids.len()).sum(),
        None => 0,
    }
}

pub async fn filing_completes_the_job_with_its_entry_manifest_and_notices(e: &impl Engine) {
    let repo = e.open().await;
    let job = claimed(&repo, "http://h/a.flv", t0()).await;
    let entry = entry_of(&repo, &job, FileFacts::default(), t0()).await;
    let filed = repo
        .file_archived(&job, filing(&entry, true))
        .await
        .unwrap();
    let done = filed.job.unwrap();
    assert!(filed.notified);
    assert_eq!(
        (done.state, done.bytes_done, done.upload),
        (JobState::Done, 7, None)
    );
    assert_eq!(repo.entry(entry.id).await.unwrap(), Some(entry.clone()));
    let by_stream = repo.entries(
        Some("s".into()),
        PageRequest::new(10, None).unwrap(),
        Box::new(|_| true),
    );
    assert_eq!(by_stream.await.unwrap().items, vec![entry.clone()]);
    let notes = notifications(&repo).await;
    assert_eq!(notes.len(), 1);
    let n = notes[0].notification.as_ref().unwrap();
    assert_eq!((n.target.as_str(), n.event.as_str()), ("hook", "archived"));
    let body: serde_json::Value = serde_json::from_str(&n.body).unwrap();
    assert_eq!(body["id"], serde_json::json!(entry.id));
    let due = repo.claim(Lane::Notifications, t0(), LEASE).await.unwrap();
    assert_eq!(
        due.map(|j| j.id),
        Some(notes[0].id),
        "a deliverer's job, due now"
    );
    assert_eq!(queued_for_manifests(&repo).await, 1);
}

pub async fn a_lost_claim_files_nothing(e: &impl Engine) {
    let repo = e.open().await;
    let first = claimed(&repo, "http://h/a.flv", t0()).await;
    let second = repo
        .claim(Lane::Files, t0() + secs(61), LEASE)
        .await
        .unwrap()
        .unwrap();
    let entry = entry_of(&repo, &first, FileFacts::default(), t0()).await;
    let filed = repo
        .file_archived(&first, filing(&entry, true))
        .await
        .unwrap();
    assert!(filed.job.is_none() && !filed.notified);
    assert_eq!(repo.entry(entry.id).await.unwrap(), None, "no entry");
    assert!(notifications(&repo).await.is_empty(), "no notification");
    assert_eq!(
        queued_for_manifests(&repo).await,
        0,
        "nothing for the manifests"
    );
    let rec = crate::queue::UploadRecord {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        progress: None,
    };
    assert!(!repo.forget_upload(&first, rec, t0()).await.unwrap());
    assert!(
        repo.abandoned_ids().await.unwrap().is_empty(),
        "nothing kept for the janitor"
    );
    assert_eq!(
        repo.job(second.id).await.unwrap().unwrap().state,
        JobState::Running
    );
}

pub async fn an_entry_filed_again_is_neither_queued_nor_told_twice(e: &impl Engine) {
    let repo = e.open().await;
    let job = claimed(&repo, "http://h/a.flv", t0()).await;
    let entry = entry_of(&repo, &job, FileFacts::default(), t0()).await;
    repo.file_archived(&job, filing(&entry, true))
        .await
        .unwrap();
    // The same file announced anew (another identity), its object found
    // with this entry beside it: the same entry is filed for the new job.
    let at = t0() + secs(5);
    let again = claimed(&repo, "http://h/a.flv?v=2", at).await;
    let filed = repo
        .file_archived(&again, filing(&entry, true))
        .await
        .unwrap();
    assert_eq!(filed.job.unwrap().state, JobState::Done);
    assert!(!filed.notified);
    assert_eq!(notifications(&repo).await.len(), 1);
    assert_eq!(queued_for_manifests(&repo).await, 1);
    // Found in the bucket (a rebuild): held already, left as it is.
    assert!(!repo.file_found(entry.clone(), true).await.unwrap());
    let mut other = entry.clone();
    other.id = EntryId::default();
    assert!(repo.file_found(other, false).await.unwrap());
}

pub async fn failing_for_good_tells_the_targets_once_per_give_up(e: &impl Engine) {
    let repo = e.open().await;
    let job = claimed(&repo, "http://h/a.flv", t0()).await;
    let failed = repo
        .fail(&job, "HTTP 404", vec![target()], t0())
        .await
        .unwrap();
    assert_eq!(failed.unwrap().state, JobState::Failed);
    let notes = notifications(&repo).await;
    assert_eq!(notes.len(), 1);
    let body: serde_json::Value =
        serde_json::from_str(&notes[0].notification.as_ref().unwrap().body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["last_error"].as_str()),
        (Some("failed"), Some("HTTP 404"))
    );
    // Retried by hand and failing again: told again.
    repo.retry_failed(job.id, t0()).await.unwrap().unwrap();
    let again = repo.claim(Lane::Files, t0(), LEASE).await.unwrap().unwrap();
    repo.fail(&again, "HTTP 404", vec![target()], t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notifications(&repo).await.len(), 2);
}

pub async fn segments_ahead_of_their_playlist_are_kept_as_parts_then_taken_in(e: &impl Engine) {
    let repo = e.open().await;
    let since = t0();
    let playlist = "/hls/s.m3u8";
    let seg = claimed(&repo, "http://h/s-1.ts", t0()).await;
    let facts = FileFacts {
        playlist: Some(playlist.into()),
        playlist_since: Some(since),
        ..FileFacts::default()
    };
    let part_entry = entry_of(&repo, &seg, facts, t0()).await;
    let filed = repo
        .file_archived(&seg, filing(&part_entry, false))
        .await
        .unwrap();
    assert_eq!(filed.job.unwrap().state, JobState::Done);
    assert_eq!(
        repo.entry(part_entry.id).await.unwrap(),
        None,
        "a part, not an entry"
    );
    let rec = HlsRecording {
        source: "jd".into(),
        playlist: playlist.into(),
        since: Some(since),
    };
    let parts = repo.hls_parts(&rec).await.unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!((parts[0].role, parts[0].job_id), (Role::Segment, seg.id));
    assert_eq!(
        repo.hls_unclosed("jd", playlist).await.unwrap(),
        Some(since)
    );
    let kept = Part {
        role: Role::Segment,
        uri: "s-2.ts".into(),
        origin: Location::Path("/hls/s-2.ts".into()),
        ..parts[0].clone()
    };
    repo.keep_hls_part(&rec, kept).await.unwrap();
    assert_eq!(repo.hls_parts(&rec).await.unwrap().len(), 2);
    // The playlist's entry takes them in.
    let pl = claimed(&repo, "http://h/s.m3u8", t0() + secs(1)).await;
    let mut entry = entry_of(
        &repo,
        &pl,
        FileFacts {
            playlist_since: Some(since),
            ..FileFacts::default()
        },
        t0(),
    )
    .await;
    entry.origin = Location::Path(playlist.into());
    entry.parts = repo.hls_parts(&rec).await.unwrap();
    repo.file_archived(&pl, filing(&entry, false))
        .await
        .unwrap();
    assert!(repo.hls_parts(&rec).await.unwrap().is_empty());
    assert_eq!(repo.hls_unclosed("jd", playlist).await.unwrap(), None);
}

pub async fn manifest_batches_are_cut_by_day_numbered_and_renumbered(e: &impl Engine) {
    let repo = e.open().await;
    for (url, at) in [
        ("http://h/a.flv", t0()),
        ("http://h/b.flv", t0() + secs(86_400)),
    ] {
        let job = claimed(&repo, url, at).await;
        let entry = entry_of(&repo, &job, FileFacts::default(), at).await;
        repo.file_archived(&job, filing(&entry, false))
            .await
            .unwrap();
    }
    let batches = repo.cut_manifest_batches(100).await.unwrap().unwrap();
    let days: Vec<(u64, &str)> = batches.iter().map(|b| (b.n, b.dt.as_str())).collect();
    assert_eq!(days, vec![(1, "2026-01-01"), (2, "2026-01-02")]);
    assert!(
        repo.cut_manifest_batches(100).await.unwrap().is_none(),
        "nothing queued now"
    );
    assert_eq!(
        repo.manifest_batches().await.unwrap(),
        batches,
        "cut, not written yet"
    );
    assert_eq!(repo.batch_entries(&batches[0]).await.unwrap().len(), 1);
    repo.manifest_written(&batches[0]).await.unwrap();
    let moved = repo.renumber_manifest(batches[1].clone()).await.unwrap();
    assert_eq!(moved.n, 3);
    repo.number_manifests_past(9).await.unwrap();
    let renumbered = repo.renumber_manifest(moved).await.unwrap();
    assert_eq!(renumbered.n, 10);
    assert_eq!(repo.manifest_batches().await.unwrap(), vec![renumbered]);
}

pub async fn archived_files_and_bytes_are_tallied_by_the_hour_they_were_filed(e: &impl Engine) {
    let repo = e.open().await;
    let hour0 = t0().timestamp() / 3600;
    for (n, at) in [t0(), t0() + secs(10), t0() + secs(2 * 3600 + 5)]
        .into_iter()
        .enumerate()
    {
        let job = claimed(&repo, &format!("http://h/tally-{n}.flv"), at).await;
        let entry = entry_of(&repo, &job, FileFacts::default(), at).await;
        repo.file_archived(&job, filing(&entry, false))
            .await
            .unwrap();
    }
    let tally = |files, bytes, hour| HourTally { hour, files, bytes };
    let all = repo.archived_by_hour(t0()).await.unwrap();
    assert_eq!(all, vec![tally(2, 14, hour0), tally(1, 7, hour0 + 2)]);
    // From within an hour: that whole hour counts, earlier ones do not.
    let later = repo
        .archived_by_hour(t0() + secs(3600 + 1800))
        .await
        .unwrap();
    assert_eq!(later, vec![tally(1, 7, hour0 + 2)]);
    let since = repo
        .archived_by_hour(t0() + secs(2 * 3600 + 600))
        .await
        .unwrap();
    assert_eq!(since, vec![tally(1, 7, hour0 + 2)]);
}
