//! The queue's moves under a controlled clock: every call takes `now`, so a
//! lease lapse or a retry time is a matter of passing a later instant.

use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::event::{EventKind, FileInfo, Location, ParsedEvent};
use crate::id::EventId;
use crate::providers::Provider;

const LEASE: Duration = Duration::from_secs(60);

fn t0() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    queue: Queue,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    Fixture {
        queue: Queue::new(db.clone()).unwrap(),
        db,
        _dir: dir,
    }
}

fn job_for(q: &Queue, url: &str, now: Timestamp) -> Job {
    let mut p = ParsedEvent::new(Provider::Jdcloud, EventKind::RecordingReady, "record_done");
    p.file = Some(FileInfo {
        location: Location::Url(url.into()),
        size: None,
        facts: crate::event::FileFacts {
            format: None,
            started_at: None,
            ended_at: None,
            duration_s: None,
            group: Vec::new(),
            ..Default::default()
        },
    });
    let mut event = p.into_event("jd", now, "{}");
    event.id = EventId(q.db.new_key(&now).unwrap());
    Job::for_event(q.new_id(&now).unwrap(), &event, now).unwrap()
}

async fn push_job(f: &Fixture, url: &str, now: Timestamp) -> (Job, Pushed) {
    push_file(f, url, None, now).await
}

/// Pushes a job for `url` whose callback states it ended at `ended`.
async fn push_file(
    f: &Fixture,
    url: &str,
    ended: Option<Timestamp>,
    now: Timestamp,
) -> (Job, Pushed) {
    let job = job_for(&f.queue, url, now);
    let file = FileInfo {
        location: Location::Url(url.into()),
        size: None,
        facts: crate::event::FileFacts {
            ended_at: ended,
            ..Default::default()
        },
    };
    let identity = FileIdentity::of(&job.source, &file);
    let j = job.clone();
    let pushed =
        f.db.commit(move |tx| push(tx, &j, &identity))
            .await
            .unwrap();
    f.queue.pushed(&pushed);
    (job, pushed)
}

#[tokio::test]
async fn the_same_file_is_pushed_once() {
    let f = fixture();
    let (first, p1) = push_job(&f, "http://h/a.flv", t0()).await;
    let (_, p2) = push_job(&f, "http://h/a.flv", t0()).await;
    let (_, p3) = push_job(&f, "http://h/b.flv", t0()).await;
    assert_eq!(p1, Pushed::New);
    assert_eq!(p2, Pushed::Duplicate(first.id));
    assert_eq!(p3, Pushed::New);
    let all = f
        .queue
        .list(&PageRequest::new(10, None).unwrap(), |_| true)
        .unwrap();
    assert_eq!(all.items.len(), 2);
}

#[tokio::test]
async fn a_new_file_at_a_reused_url_is_a_new_job() {
    let f = fixture();
    let (_, p1) = push_file(&f, "http://h/snap.jpg", Some(t0()), t0()).await;
    let (_, p2) = push_file(&f, "http://h/snap.jpg", Some(t0() + secs(60)), t0()).await;
    let (_, p3) = push_file(&f, "http://h/snap.jpg", Some(t0() + secs(60)), t0()).await;
    assert_eq!(p1, Pushed::New);
    assert_eq!(p2, Pushed::New, "another snapshot time: another file");
    assert!(
        matches!(p3, Pushed::Duplicate(_)),
        "the same callback again"
    );
}

#[tokio::test]
async fn a_failed_job_is_queued_again_when_its_file_is_announced_again() {
    let f = fixture();
    let (job, _) = push_job(&f, "http://h/a.flv", t0()).await;
    let c = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    f.queue
        .attempt_failed(&c, "HTTP 404", None, t0(), None)
        .unwrap()
        .unwrap();
    let (_, again) = push_job(&f, "http://h/a.flv", t0() + secs(9)).await;
    assert_eq!(again, Pushed::Requeued(job.id));
    let j = f.queue.get(job.id).unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert_eq!(f.queue.next_due().unwrap(), Some(t0() + secs(9)));
    let (_, once_more) = push_job(&f, "http://h/a.flv", t0() + secs(10)).await;
    assert_eq!(
        once_more,
        Pushed::Duplicate(job.id),
        "queued, not failed: a duplicate"
    );
}

#[tokio::test]
async fn a_job_is_claimed_once_and_only_when_due() {
    let f = fixture();
    let (job, _) = push_job(&f, "http://h/a.flv", t0() + secs(10)).await;
    assert!(f.queue.claim(t0(), LEASE).unwrap().is_none(), "not due yet");
    let claimed = f.queue.claim(t0() + secs(10), LEASE).unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    assert_eq!(claimed.state, JobState::Running);
    assert_eq!(claimed.attempts, 1);
    assert!(
        f.queue.claim(t0() + secs(11), LEASE).unwrap().is_none(),
        "held by its lease"
    );
    assert_eq!(f.queue.next_due().unwrap(), Some(t0() + secs(70)));
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_and_the_old_claim_can_change_nothing() {
    let f = fixture();
    push_job(&f, "http://h/a.flv", t0()).await;
    let first = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    // Renewed within the lease: still held.
    assert!(f
        .queue
        .renew(&first, t0() + secs(90), 10, Some(100))
        .unwrap());
    assert!(f.queue.claim(t0() + secs(61), LEASE).unwrap().is_none());
    // Past the renewed lease, another worker takes it over.
    let second = f.queue.claim(t0() + secs(91), LEASE).unwrap().unwrap();
    assert_eq!(second.attempts, 2);
    assert!(!f.queue.renew(&first, t0() + secs(200), 20, None).unwrap());
    assert!(f
        .queue
        .complete(&first, 100, t0() + secs(92), &|_| Ok(()))
        .unwrap()
        .is_none());
    assert!(f
        .queue
        .attempt_failed(&first, "late", None, t0() + secs(92), None)
        .unwrap()
        .is_none());
    let done = f
        .queue
        .complete(&second, 100, t0() + secs(93), &|_| Ok(()))
        .unwrap()
        .unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(
        f.queue.next_due().unwrap(),
        None,
        "a finished job is never due"
    );
}

#[tokio::test]
async fn a_claim_released_and_claimed_again_is_a_new_generation() {
    let f = fixture();
    push_job(&f, "http://h/a.flv", t0()).await;
    let first = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    f.queue.release(&first, t0()).unwrap().unwrap();
    let second = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    // The released attempt is not counted, yet the claims differ.
    assert_eq!(first.attempts, second.attempts);
    assert_ne!(first.claims, second.claims);
    assert!(!f.queue.renew(&first, t0() + secs(90), 0, None).unwrap());
    assert!(f.queue.renew(&second, t0() + secs(90), 0, None).unwrap());
}

#[tokio::test]
async fn a_failed_attempt_is_due_again_at_its_retry_time() {
    let f = fixture();
    push_job(&f, "http://h/a.flv", t0()).await;
    let c = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    let next = t0() + secs(30);
    let j = f
        .queue
        .attempt_failed(&c, "HTTP 503", Some(next), t0() + secs(1), None)
        .unwrap()
        .unwrap();
    assert_eq!(j.state, JobState::Retrying);
    assert_eq!(j.last_error.as_deref(), Some("HTTP 503"));
    assert!(f.queue.claim(t0() + secs(29), LEASE).unwrap().is_none());
    let again = f.queue.claim(next, LEASE).unwrap().unwrap();
    assert_eq!(again.attempts, 2);
}

#[tokio::test]
async fn failed_jobs_are_retried_by_hand_with_fresh_attempts() {
    let f = fixture();
    let (job, _) = push_job(&f, "http://h/a.flv", t0()).await;
    assert!(
        f.queue.retry_failed(job.id, t0()).unwrap().is_none(),
        "not failed"
    );
    let c = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    f.queue
        .attempt_failed(&c, "HTTP 403", None, t0(), None)
        .unwrap()
        .unwrap();
    assert_eq!(f.queue.next_due().unwrap(), None);
    let j = f
        .queue
        .retry_failed(job.id, t0() + secs(5))
        .unwrap()
        .unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert!(f.queue.claim(t0() + secs(5), LEASE).unwrap().is_some());
}

#[tokio::test]
async fn a_released_job_is_due_now_with_its_attempt_uncounted() {
    let f = fixture();
    push_job(&f, "http://h/a.flv", t0()).await;
    let c = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    let j = f.queue.release(&c, t0() + secs(2)).unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert_eq!(f.queue.next_due().unwrap(), Some(t0() + secs(2)));
}

#[tokio::test]
async fn jobs_left_running_by_a_crash_are_queued_again_on_start() {
    let f = fixture();
    push_job(&f, "http://h/a.flv", t0()).await;
    f.queue.claim(t0(), LEASE).unwrap().unwrap();
    assert_eq!(f.queue.requeue_running(t0() + secs(1)).unwrap(), 1);
    let jobs = f
        .queue
        .list(&PageRequest::new(10, None).unwrap(), |_| true)
        .unwrap();
    assert_eq!(jobs.items[0].state, JobState::Queued);
    assert_eq!(
        f.queue.requeue_running(t0()).unwrap(),
        0,
        "only running jobs move"
    );
}

#[tokio::test]
async fn gauges_count_jobs_by_state_and_the_due_backlog() {
    let f = fixture();
    push_job(&f, "http://h/a.flv", t0()).await;
    push_job(&f, "http://h/b.flv", t0() + secs(5)).await;
    let g = f.queue.gauges(t0() + secs(10)).unwrap();
    assert!(g.by_state.contains(&(JobState::Queued, 2)));
    assert_eq!(g.due_now, 2);
    assert!((g.oldest_due_age_s - 10.0).abs() < 1e-9);
}

#[tokio::test]
async fn job_counts_follow_every_move_and_agree_with_a_fresh_count() {
    let f = fixture();
    for u in ["a", "b", "c", "d"] {
        push_job(&f, &format!("http://h/{u}.flv"), t0()).await;
    }
    push_job(&f, "http://h/a.flv", t0()).await; // a duplicate counts nothing
    let a = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    f.queue
        .complete(&a, 10, t0(), &|_| Ok(()))
        .unwrap()
        .unwrap();
    let b = f.queue.claim(t0(), LEASE).unwrap().unwrap();
    f.queue
        .attempt_failed(&b, "HTTP 403", None, t0(), None)
        .unwrap()
        .unwrap();
    f.queue.claim(t0(), LEASE).unwrap().unwrap();
    let counted = |q: &Queue| q.gauges(t0()).unwrap().by_state;
    let fresh = || counts::Counts::read(&f.db).unwrap().by_state();
    assert_eq!(counted(&f.queue), fresh());
    for expected in [
        (JobState::Done, 1),
        (JobState::Failed, 1),
        (JobState::Running, 1),
    ] {
        assert!(
            counted(&f.queue).contains(&expected),
            "{:?}",
            counted(&f.queue)
        );
    }
    // Announced again, the failed job is queued again.
    let Location::Url(b_url) = &b.origin else {
        panic!("{:?}", b.origin)
    };
    push_job(&f, b_url, t0() + secs(1)).await;
    assert!(counted(&f.queue).contains(&(JobState::Queued, 2)));
    assert_eq!(counted(&f.queue), fresh());
    // A crash's running job is queued again; retention takes the done one.
    f.queue.requeue_running(t0() + secs(2)).unwrap();
    let keep_nothing = crate::config::StateConfig {
        keep_finished_jobs_days: 0.0,
        ..Default::default()
    };
    let r = crate::retention::Retention::of(&keep_nothing);
    let p = crate::retention::prune(&f.db, &r, t0() + secs(86_400)).unwrap();
    assert_eq!(p.jobs, 1);
    f.queue.pruned_done(p.jobs);
    assert_eq!(counted(&f.queue), fresh());
    assert!(counted(&f.queue).contains(&(JobState::Done, 0)));
    assert!(counted(&f.queue).contains(&(JobState::Queued, 3)));
    // Reopened, the queue counts the same.
    assert_eq!(counted(&Queue::new(f.db.clone()).unwrap()), fresh());
}
