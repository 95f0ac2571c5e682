//! The queue's moves: dedupe by file identity, claims (the claim is the
//! lease, its generation the fencing token), lease lapse and takeover,
//! retries, requeues, counts.

use super::{record, recording, secs, t0, Engine, LEASE};
use crate::event::Location;
use crate::id::JobId;
use crate::queue::{FileIdentity, Job, JobState, Lane};
use crate::state::{Keep, PageRequest, Repo};
use crate::time::{now, to_millis, Timestamp};

/// Announces `url` (ended at `ended`) at `at`; its job id and whether the
/// announcement made it (false: a duplicate, or a failed job requeued).
async fn announce(
    repo: &Repo,
    url: &str,
    ended: Option<Timestamp>,
    at: Timestamp,
) -> (JobId, bool) {
    let r = record(repo, vec![recording(url, ended, at)], at)
        .await
        .remove(0);
    (r.event.job_id.unwrap(), r.new_job.is_some())
}

fn all<T>() -> Keep<T> {
    Box::new(|_| true)
}

async fn jobs(repo: &Repo) -> Vec<Job> {
    repo.jobs(PageRequest::new(100, None).unwrap(), all())
        .await
        .unwrap()
        .items
}

async fn claim(repo: &Repo, at: Timestamp) -> Option<Job> {
    repo.claim(Lane::Files, at, LEASE).await.unwrap()
}

pub async fn the_same_file_is_pushed_once(e: &impl Engine) {
    let repo = e.open().await;
    let (first, new1) = announce(&repo, "http://h/a.flv", None, t0()).await;
    let (again, new2) = announce(&repo, "http://h/a.flv", None, t0()).await;
    let (_, new3) = announce(&repo, "http://h/b.flv", None, t0()).await;
    assert!(new1 && !new2 && new3);
    assert_eq!(again, first, "the platform's retry finds the job it made");
    assert_eq!(jobs(&repo).await.len(), 2);
    let file = FileIdentity::of("jd", &recording("http://h/a.flv", None, t0()).file.unwrap());
    let (id, job) = repo.job_for(&file).await.unwrap().unwrap();
    assert_eq!((id, job.map(|j| j.id)), (first, Some(first)));
}

pub async fn a_new_file_at_a_reused_url_is_a_new_job(e: &impl Engine) {
    let repo = e.open().await;
    let url = "http://h/snap.jpg";
    let (_, a) = announce(&repo, url, Some(t0()), t0()).await;
    let (_, b) = announce(&repo, url, Some(t0() + secs(60)), t0()).await;
    let (_, c) = announce(&repo, url, Some(t0() + secs(60)), t0()).await;
    assert!(a);
    assert!(b, "another snapshot time: another file");
    assert!(!c, "the same callback again");
}

pub async fn a_failed_job_is_queued_again_when_its_file_is_announced_again(e: &impl Engine) {
    let repo = e.open().await;
    let (job, _) = announce(&repo, "http://h/a.flv", None, t0()).await;
    let c = claim(&repo, t0()).await.unwrap();
    let failed = repo.fail(&c, "HTTP 404", Vec::new(), t0()).await.unwrap();
    assert_eq!(failed.unwrap().state, JobState::Failed);
    let at = t0() + secs(9);
    let r = record(&repo, vec![recording("http://h/a.flv", None, at)], at).await;
    assert!(r[0].requeued && r[0].event.duplicate);
    let j = repo.job(job).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert_eq!(repo.next_due(Lane::Files).await.unwrap(), Some(at));
    let r = record(&repo, vec![recording("http://h/a.flv", None, at)], at).await;
    assert!(!r[0].requeued, "queued, not failed: a duplicate");
}

pub async fn a_job_is_claimed_once_and_only_when_due(e: &impl Engine) {
    let repo = e.open().await;
    let (job, _) = announce(&repo, "http://h/a.flv", None, t0() + secs(10)).await;
    assert!(claim(&repo, t0()).await.is_none(), "not due yet");
    let claimed = claim(&repo, t0() + secs(10)).await.unwrap();
    assert_eq!(claimed.id, job);
    assert_eq!((claimed.state, claimed.attempts), (JobState::Running, 1));
    assert!(
        claim(&repo, t0() + secs(11)).await.is_none(),
        "held by its lease"
    );
    let notes = repo
        .claim(Lane::Notifications, t0() + secs(99), LEASE)
        .await;
    assert!(notes.unwrap().is_none(), "a file job is not a deliverer's");
    assert_eq!(
        repo.next_due(Lane::Files).await.unwrap(),
        Some(t0() + secs(70))
    );
}

/// On a paused clock: the lease lapses as time passes, unless renewed.
pub async fn a_lapsed_lease_is_taken_over_and_the_old_claim_can_change_nothing(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, now()).await;
    let first = claim(&repo, now()).await.unwrap();
    tokio::time::advance(secs(30).to_std().unwrap()).await;
    let until = now() + secs(60);
    assert!(repo.renew(&first, until, 10, Some(100)).await.unwrap());
    tokio::time::advance(secs(31).to_std().unwrap()).await;
    assert!(claim(&repo, now()).await.is_none(), "renewed: still held");
    tokio::time::advance(secs(30).to_std().unwrap()).await;
    // Past the renewed lease (its worker died), another worker takes it over.
    let second = claim(&repo, now()).await.unwrap();
    assert_eq!((second.attempts, second.claims), (2, 2));
    assert_eq!(second.bytes_done, 10, "the progress it made is shown");
    let later = now() + secs(60);
    assert!(!repo.renew(&first, later, 20, None).await.unwrap());
    assert!(repo.release(&first, now()).await.unwrap().is_none());
    assert!(repo
        .retry_at(&first, "late", later, now())
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .fail(&first, "late", Vec::new(), now())
        .await
        .unwrap()
        .is_none());
    assert!(!repo.save_upload(&first, None).await.unwrap());
    let j = repo.job(first.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.claims),
        (JobState::Running, 2),
        "the old claim changed nothing"
    );
    let done = repo.delivered(&second, now()).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(
        repo.next_due(Lane::Files).await.unwrap(),
        None,
        "a finished job is never due"
    );
}

pub async fn a_claim_released_and_claimed_again_is_a_new_generation(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, t0()).await;
    let first = claim(&repo, t0()).await.unwrap();
    repo.release(&first, t0()).await.unwrap().unwrap();
    let second = claim(&repo, t0()).await.unwrap();
    // The released attempt is not counted, yet the claims differ.
    assert_eq!(first.attempts, second.attempts);
    assert_ne!(first.claims, second.claims);
    assert!(!repo.renew(&first, t0() + secs(90), 0, None).await.unwrap());
    assert!(repo.renew(&second, t0() + secs(90), 0, None).await.unwrap());
}

/// On a paused clock: a retried job is due again only once its wait is over.
pub async fn a_failed_attempt_is_due_again_at_its_retry_time(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, now()).await;
    let c = claim(&repo, now()).await.unwrap();
    let transfer = crate::config::TransferConfig::default();
    let wait = crate::retry::delay_after(c.attempts, &transfer);
    let at = now() + chrono::Duration::from_std(wait).unwrap();
    let j = repo
        .retry_at(&c, "HTTP 503", at, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (j.state, j.last_error.as_deref()),
        (JobState::Retrying, Some("HTTP 503"))
    );
    let due = repo.next_due(Lane::Files).await.unwrap();
    assert_eq!(due.map(|d| to_millis(&d)), Some(to_millis(&at)));
    tokio::time::advance(wait - std::time::Duration::from_millis(5)).await;
    assert!(
        claim(&repo, now()).await.is_none(),
        "not before its retry time"
    );
    tokio::time::advance(std::time::Duration::from_millis(5)).await;
    let again = claim(&repo, now()).await.unwrap();
    assert_eq!(again.attempts, 2);
}

pub async fn failed_jobs_are_retried_by_hand_with_fresh_attempts(e: &impl Engine) {
    let repo = e.open().await;
    let (job, _) = announce(&repo, "http://h/a.flv", None, t0()).await;
    assert!(
        repo.retry_failed(job, t0()).await.unwrap().is_none(),
        "not failed"
    );
    let c = claim(&repo, t0()).await.unwrap();
    repo.fail(&c, "HTTP 403", Vec::new(), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repo.next_due(Lane::Files).await.unwrap(), None);
    let j = repo
        .retry_failed(job, t0() + secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert!(claim(&repo, t0() + secs(5)).await.is_some());
}

pub async fn a_dismissed_job_leaves_the_failed_count_and_stays_on_record(e: &impl Engine) {
    let repo = e.open().await;
    let (job, _) = announce(&repo, "http://h/a.flv", None, t0()).await;
    assert!(
        repo.dismiss_failed(job, t0()).await.unwrap().is_none(),
        "not failed"
    );
    let c = claim(&repo, t0()).await.unwrap();
    repo.fail(&c, "HTTP 403", Vec::new(), t0())
        .await
        .unwrap()
        .unwrap();
    let j = repo
        .dismiss_failed(job, t0() + secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(j.state, JobState::Dismissed);
    assert_eq!(
        j.last_error.as_deref(),
        Some("HTTP 403"),
        "why it failed is kept"
    );
    assert!(
        repo.dismiss_failed(job, t0()).await.unwrap().is_none(),
        "once"
    );
    assert!(
        repo.retry_failed(job, t0()).await.unwrap().is_none(),
        "no longer failed"
    );
    assert!(claim(&repo, t0() + secs(60)).await.is_none(), "never due");
    let repo = e.reopen(repo).await;
    let kept = repo.job(job).await.unwrap().unwrap();
    assert_eq!(kept.state, JobState::Dismissed);
    let by_state = repo.gauges(t0()).await.unwrap().by_state;
    let n = |s: JobState| by_state.iter().find(|(x, _)| *x == s).map(|(_, n)| *n);
    assert_eq!(
        (n(JobState::Failed), n(JobState::Dismissed)),
        (Some(0), Some(1))
    );
    // Announced again, the file is worth another try: the same job is
    // queued, counted as it moves.
    let (again, _) = announce(&repo, "http://h/a.flv", None, t0() + secs(90)).await;
    assert_eq!(again, job);
    assert_eq!(
        repo.job(job).await.unwrap().unwrap().state,
        JobState::Queued
    );
    let by_state = repo.gauges(t0()).await.unwrap().by_state;
    let n = |s: JobState| by_state.iter().find(|(x, _)| *x == s).map(|(_, n)| *n);
    assert_eq!(
        (n(JobState::Dismissed), n(JobState::Queued)),
        (Some(0), Some(1))
    );
}

pub async fn a_released_job_is_due_now_with_its_attempt_uncounted(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, t0()).await;
    let c = claim(&repo, t0()).await.unwrap();
    let j = repo.release(&c, t0() + secs(2)).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    assert_eq!(
        repo.next_due(Lane::Files).await.unwrap(),
        Some(t0() + secs(2))
    );
    let c = claim(&repo, t0() + secs(2)).await.unwrap();
    let j = repo
        .wait_for_store(&c, "503 SlowDown", t0() + secs(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (j.state, j.attempts),
        (JobState::Retrying, 0),
        "the store's trouble uses no attempt"
    );
    assert_eq!(j.last_error.as_deref(), Some("503 SlowDown"));
}

pub async fn jobs_left_running_by_a_crash_are_queued_again_on_start(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, t0()).await;
    claim(&repo, t0()).await.unwrap();
    let repo = e.reopen(repo).await;
    assert_eq!(repo.requeue_running(t0() + secs(1)).await.unwrap(), 1);
    assert_eq!(jobs(&repo).await[0].state, JobState::Queued);
    assert_eq!(
        repo.requeue_running(t0()).await.unwrap(),
        0,
        "only running jobs move"
    );
}

pub async fn gauges_count_jobs_by_state_and_the_due_backlog(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, t0()).await;
    announce(&repo, "http://h/b.flv", None, t0() + secs(5)).await;
    let g = repo.gauges(t0() + secs(10)).await.unwrap();
    assert!(
        g.by_state.contains(&(JobState::Queued, 2)),
        "{:?}",
        g.by_state
    );
    assert_eq!(g.due_now, 2);
    assert!((g.oldest_due_age_s - 10.0).abs() < 1e-9);
}

pub async fn job_counts_follow_every_move_and_survive_a_reopen(e: &impl Engine) {
    let repo = e.open().await;
    for u in ["a", "b", "c", "d"] {
        announce(&repo, &format!("http://h/{u}.flv"), None, t0()).await;
    }
    announce(&repo, "http://h/a.flv", None, t0()).await; // a duplicate counts nothing
    let a = claim(&repo, t0()).await.unwrap();
    repo.delivered(&a, t0()).await.unwrap().unwrap();
    let b = claim(&repo, t0()).await.unwrap();
    repo.fail(&b, "HTTP 403", Vec::new(), t0())
        .await
        .unwrap()
        .unwrap();
    claim(&repo, t0()).await.unwrap();
    let counted = |r: Repo| async move { r.gauges(t0()).await.unwrap().by_state };
    for expected in [
        (JobState::Done, 1),
        (JobState::Failed, 1),
        (JobState::Running, 1),
    ] {
        assert!(counted(repo.clone()).await.contains(&expected));
    }
    // Announced again, the failed job is queued again.
    let Location::Url(b_url) = &b.origin else {
        panic!("{:?}", b.origin)
    };
    announce(&repo, b_url, None, t0() + secs(1)).await;
    assert!(counted(repo.clone()).await.contains(&(JobState::Queued, 2)));
    // Retention takes the done one.
    let keep_nothing = crate::config::StateConfig {
        keep_finished_jobs_days: 0.0,
        ..Default::default()
    };
    let r = crate::state::Retention::of(&keep_nothing);
    let p = repo.prune(r, t0() + secs(86_400)).await.unwrap();
    assert_eq!(p.jobs, 1);
    let before = counted(repo.clone()).await;
    assert!(before.contains(&(JobState::Done, 0)));
    assert!(before.contains(&(JobState::Queued, 2)));
    // Reopened, the engine counts the same.
    let repo = e.reopen(repo).await;
    assert_eq!(counted(repo).await, before);
}

pub async fn an_upload_is_saved_under_the_claim_only(e: &impl Engine) {
    let repo = e.open().await;
    announce(&repo, "http://h/a.flv", None, t0()).await;
    let c = claim(&repo, t0()).await.unwrap();
    let rec = crate::queue::UploadRecord {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u1".into(),
        progress: None,
    };
    assert!(repo.note_creating(&c, Some(rec.clone())).await.unwrap());
    assert_eq!(
        repo.job(c.id).await.unwrap().unwrap().creating.as_ref(),
        Some(&rec)
    );
    assert!(repo.save_upload(&c, Some(rec.clone())).await.unwrap());
    let j = repo.job(c.id).await.unwrap().unwrap();
    assert_eq!(
        (j.upload.as_ref(), j.creating.as_ref()),
        (Some(&rec), None),
        "saving clears the note"
    );
    assert_eq!(repo.uploads_in_jobs().await.unwrap(), vec!["u1".to_owned()]);
    // Forgotten and kept for the janitor, in one write.
    assert!(repo.forget_upload(&c, rec, t0()).await.unwrap());
    assert_eq!(repo.job(c.id).await.unwrap().unwrap().upload, None);
    assert_eq!(repo.abandoned_ids().await.unwrap(), vec!["u1".to_owned()]);
    assert!(repo.uploads_in_jobs().await.unwrap().is_empty());
}
