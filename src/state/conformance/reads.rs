//! Listings and their cursors, streams, rejected requests, retention, and
//! the janitor's uploads.

use std::collections::BTreeMap;

use super::{record, recording, secs, stream_event, t0, Engine, LEASE};
use crate::event::{Event, EventKind};
use crate::id::RejectedId;
use crate::providers::Provider;
use crate::queue::{JobState, Lane, UploadRecord};
use crate::rejected::RejectedRequest;
use crate::state::{PageRequest, Retention};

pub async fn listings_page_with_cursors_and_filters(e: &impl Engine) {
    let repo = e.open().await;
    for n in 0..5 {
        let at = t0() + secs(n);
        record(
            &repo,
            vec![recording(&format!("http://h/{n}.flv"), None, at)],
            at,
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::new(2, cursor.as_deref()).unwrap();
        let got = repo.jobs(page, Box::new(|_| true)).await.unwrap();
        seen.extend(got.items.iter().map(|j| j.origin.as_str().to_owned()));
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..5).rev().map(|n| format!("http://h/{n}.flv")).collect();
    assert_eq!(seen, want, "newest first, each once, across pages");
    let odd = Box::new(|e: &Event| {
        e.file
            .as_ref()
            .is_some_and(|f| f.location.as_str().ends_with("3.flv"))
    });
    let page = repo
        .events(PageRequest::new(10, None).unwrap(), odd)
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.next_cursor), (1, None));
}

pub async fn streams_sessions_and_liveness_follow_their_events(e: &impl Engine) {
    let repo = e.open().await;
    let started = record(
        &repo,
        vec![stream_event(EventKind::StreamStarted, t0())],
        t0(),
    )
    .await;
    let session = started[0].event.session.clone();
    assert!(session.is_some());
    let at = t0() + secs(10);
    let rec = record(&repo, vec![recording("http://h/a.flv", None, at)], at).await;
    assert_eq!(rec[0].event.session, session, "a recording made while live");
    let streams = repo.streams(PageRequest::new(10, None).unwrap(), Box::new(|_| true));
    let streams = streams.await.unwrap().items;
    assert_eq!(streams.len(), 1);
    assert!(streams[0].live);
    let at = t0() + secs(20);
    record(&repo, vec![stream_event(EventKind::StreamStopped, at)], at).await;
    let live = repo.streams(PageRequest::new(10, None).unwrap(), Box::new(|s| s.live));
    assert!(live.await.unwrap().items.is_empty());
}

pub async fn rejected_requests_are_kept_counted_and_marked_replayed(e: &impl Engine) {
    let repo = e.open().await;
    let r = RejectedRequest {
        id: RejectedId::default(),
        source: "jd".into(),
        provider: Provider::Jdcloud,
        received_at: t0(),
        method: "POST".into(),
        query: String::new(),
        headers: BTreeMap::new(),
        remote_addr: None,
        body: Some("{".into()),
        body_hex: None,
        error_code: "bad_json".into(),
        error: "EOF".into(),
        replayed_as: None,
    };
    let kept = repo.record_rejected(r.clone()).await.unwrap();
    assert_ne!(kept.id, RejectedId::default(), "an id assigned");
    repo.record_rejected(r).await.unwrap();
    assert_eq!(repo.rejected_counts().await.unwrap().get("jd"), Some(&2));
    let events = record(&repo, vec![recording("http://h/a.flv", None, t0())], t0()).await;
    repo.mark_replayed(kept.id, vec![events[0].event.id])
        .await
        .unwrap();
    let back = repo.rejected(kept.id).await.unwrap().unwrap();
    assert_eq!(back.replayed_as, Some(vec![events[0].event.id]));
    let page = repo.rejected_list(PageRequest::new(1, None).unwrap(), Box::new(|_| true));
    assert!(page.await.unwrap().next_cursor.is_some());
}

pub async fn retention_prunes_what_it_may_and_keeps_what_a_job_needs(e: &impl Engine) {
    let repo = e.open().await;
    let done = record(&repo, vec![recording("http://h/a.flv", None, t0())], t0()).await;
    let waiting = record(&repo, vec![recording("http://h/b.flv", None, t0())], t0()).await;
    let c = repo.claim(Lane::Files, t0(), LEASE).await.unwrap().unwrap();
    assert_eq!(Some(c.id), done[0].event.job_id);
    repo.delivered(&c, t0()).await.unwrap().unwrap();
    let keep_a_day = crate::config::StateConfig {
        keep_events_days: 1.0,
        keep_finished_jobs_days: 1.0,
        keep_rejected_days: 1.0,
        ..Default::default()
    };
    let r = Retention::of(&keep_a_day);
    let nothing = repo.prune(r, t0() + secs(3600)).await.unwrap();
    assert_eq!(nothing, Default::default(), "nothing is old enough");
    let p = repo.prune(r, t0() + secs(2 * 86_400)).await.unwrap();
    assert_eq!((p.jobs, p.events), (1, 1));
    assert!(repo.job(c.id).await.unwrap().is_none());
    let kept = repo.event(waiting[0].event.id).await.unwrap();
    assert!(kept.is_some(), "the event a waiting job needs is kept");
    assert_eq!(
        repo.job(waiting[0].event.job_id.unwrap())
            .await
            .unwrap()
            .unwrap()
            .state,
        JobState::Queued
    );
    // Its file, announced again, is a new job (its identity went with it).
    let at = t0() + secs(2 * 86_400);
    let again = record(&repo, vec![recording("http://h/a.flv", None, at)], at).await;
    assert!(again[0].new_job.is_some());
}

pub async fn abandoned_uploads_wait_their_turn_until_gone(e: &impl Engine) {
    let repo = e.open().await;
    let rec = UploadRecord {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        progress: None,
    };
    repo.abandon(rec, t0()).await.unwrap();
    assert!(
        repo.abandoned_due(t0()).await.unwrap().is_empty(),
        "a few seconds on"
    );
    let mut due = repo.abandoned_due(t0() + secs(5)).await.unwrap();
    assert_eq!(due.len(), 1);
    let mut a = due.remove(0);
    a.attempts += 1;
    a.next_at = t0() + secs(60);
    repo.abandoned_later(a).await.unwrap();
    assert!(repo
        .abandoned_due(t0() + secs(30))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(repo.abandoned_ids().await.unwrap(), vec!["u".to_owned()]);
    repo.abandoned_gone("u").await.unwrap();
    assert!(repo.abandoned_ids().await.unwrap().is_empty());
}
