//! The conformance suite: written once against the repository traits, run
//! on every engine. An engine joins with one line,
//! `conformance::suite!(its_engine_tests, async_fn_opening_a_fresh_repo)`,
//! which makes one test per behaviour for it (see the sled engine's at the
//! end of this file; PostgreSQL's will open a fresh database the same way).
//! Time logic runs on a paused tokio clock where the behaviour is about
//! time passing (leases, retries); elsewhere each call is given its `now`.

pub mod filing;
pub mod queue;
pub mod reads;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::TimeZone;

use super::{Callback, Recorded, Repo};
use crate::event::{Event, EventKind, FileFacts, FileInfo, Location, ParsedEvent};
use crate::providers::Provider;
use crate::time::Timestamp;

/// Opens a fresh, empty repository of one engine; and, given the same
/// place again, reopens it (what a restart sees).
pub trait Engine: Send + Sync + 'static {
    fn open(&self) -> Pin<Box<dyn Future<Output = Repo> + Send + '_>>;
    fn reopen(&self, old: Repo) -> Pin<Box<dyn Future<Output = Repo> + Send + '_>>;
}

pub const LEASE: Duration = Duration::from_secs(60);

pub fn t0() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A recording-ready event for `url`, its file ended at `ended`.
pub fn recording(url: &str, ended: Option<Timestamp>, at: Timestamp) -> Event {
    let mut p = ParsedEvent::new(Provider::Jdcloud, EventKind::RecordingReady, "record_done");
    p.stream.name = Some("s".into());
    p.file = Some(FileInfo {
        location: Location::Url(url.into()),
        size: None,
        facts: FileFacts {
            ended_at: ended,
            ..FileFacts::default()
        },
    });
    p.into_event("jd", at, "{}")
}

/// A stream event of stream `s`.
pub fn stream_event(kind: EventKind, at: Timestamp) -> Event {
    let mut p = ParsedEvent::new(Provider::Jdcloud, kind, "stream");
    p.stream.name = Some("s".into());
    p.occurred_at = Some(at);
    p.into_event("jd", at, "{}")
}

/// Records `events` as one callback at `now`, no one told.
pub async fn record(repo: &Repo, events: Vec<Event>, now: Timestamp) -> Vec<Recorded> {
    repo.record_callback(Callback::untold(events, now))
        .await
        .unwrap()
}

/// One test per behaviour of the suite for the engine `$engine` (an
/// expression implementing [`Engine`]).
macro_rules! suite {
    ($name:ident, $engine:expr, [$($module:ident :: $test:ident),* $(,)?]) => {
        mod $name {
            $(
                #[tokio::test(start_paused = true)]
                async fn $test() {
                    $crate::state::conformance::$module::$test(&$engine).await;
                }
            )*
        }
    };
}

/// The sled engine, in a fresh temporary directory.
struct Sled {
    dir: tempfile::TempDir,
}

impl Engine for Sled {
    fn open(&self) -> Pin<Box<dyn Future<Output = Repo> + Send + '_>> {
        Box::pin(async move {
            let gap = Duration::from_secs(60);
            let repo = super::sled::SledRepo::open_in(self.dir.path(), 8 << 20, gap).unwrap();
            std::sync::Arc::new(repo) as Repo
        })
    }

    fn reopen(&self, old: Repo) -> Pin<Box<dyn Future<Output = Repo> + Send + '_>> {
        Box::pin(async move {
            old.flush().await.unwrap();
            drop(old);
            // The engine's threads let go of the directory's lock a moment
            // after the last handle is dropped: wait that out.
            let gap = Duration::from_secs(60);
            for _ in 0..200 {
                if let Ok(repo) = super::sled::SledRepo::open_in(self.dir.path(), 8 << 20, gap) {
                    return std::sync::Arc::new(repo) as Repo;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("the sled state could not be reopened");
        })
    }
}

fn sled() -> Sled {
    Sled {
        dir: tempfile::tempdir().unwrap(),
    }
}

/// Every behaviour of the suite, for the engine `$engine`.
macro_rules! every_behaviour {
    ($name:ident, $engine:expr) => {
        suite!(
            $name,
            $engine,
            [
                queue::the_same_file_is_pushed_once,
                queue::a_new_file_at_a_reused_url_is_a_new_job,
                queue::a_failed_job_is_queued_again_when_its_file_is_announced_again,
                queue::a_job_is_claimed_once_and_only_when_due,
                queue::a_lapsed_lease_is_taken_over_and_the_old_claim_can_change_nothing,
                queue::a_claim_released_and_claimed_again_is_a_new_generation,
                queue::a_failed_attempt_is_due_again_at_its_retry_time,
                queue::failed_jobs_are_retried_by_hand_with_fresh_attempts,
                queue::a_dismissed_job_leaves_the_failed_count_and_stays_on_record,
                queue::a_released_job_is_due_now_with_its_attempt_uncounted,
                queue::jobs_left_running_by_a_crash_are_queued_again_on_start,
                queue::gauges_count_jobs_by_state_and_the_due_backlog,
                queue::job_counts_follow_every_move_and_survive_a_reopen,
                queue::an_upload_is_saved_under_the_claim_only,
                filing::filing_completes_the_job_with_its_entry_manifest_and_notices,
                filing::a_lost_claim_files_nothing,
                filing::an_entry_filed_again_is_neither_queued_nor_told_twice,
                filing::failing_for_good_tells_the_targets_once_per_give_up,
                filing::segments_ahead_of_their_playlist_are_kept_as_parts_then_taken_in,
                filing::manifest_batches_are_cut_by_day_numbered_and_renumbered,
                filing::archived_files_and_bytes_are_tallied_by_the_hour_they_were_filed,
                reads::listings_page_with_cursors_and_filters,
                reads::streams_sessions_and_liveness_follow_their_events,
                reads::rejected_requests_are_kept_counted_and_marked_replayed,
                reads::retention_prunes_what_it_may_and_keeps_what_a_job_needs,
                reads::abandoned_uploads_wait_their_turn_until_gone,
            ]
        );
    };
}

/// A PostgreSQL engine on a fresh database of the test binary's cluster.
struct Postgres {
    url: String,
}

#[path = "../../tests/common/pg.rs"]
pub(crate) mod pg;

impl Postgres {
    async fn connect(&self) -> Repo {
        let mut target = super::postgres::Target::parse(&self.url, 4).unwrap();
        // No timeouts: the paused clock would fire them while a socket is waited on.
        target.timeouts = false;
        let gap = Duration::from_secs(60);
        let repo = super::postgres::PgRepo::connect(target, "conformance", gap);
        std::sync::Arc::new(repo.await.unwrap()) as Repo
    }
}

impl Engine for Postgres {
    fn open(&self) -> Pin<Box<dyn Future<Output = Repo> + Send + '_>> {
        Box::pin(self.connect())
    }

    fn reopen(&self, old: Repo) -> Pin<Box<dyn Future<Output = Repo> + Send + '_>> {
        Box::pin(async move {
            drop(old);
            self.connect().await
        })
    }
}

fn postgres() -> Postgres {
    let url = pg::PgCluster::shared().fresh_database("conformance");
    Postgres { url }
}

every_behaviour!(sled_engine, super::sled());
every_behaviour!(postgres_engine, super::postgres());
