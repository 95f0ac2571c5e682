//! `LISTEN` on its own connection: a job pushed, or made due now, by any
//! instance wakes this instance's idle workers at once, not at their next
//! poll. A lost connection is made again (and the workers woken, for what
//! was sent meanwhile).

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::conn::Target;
use crate::queue::Lane;

/// The channel idle workers listen on; the payload is the lane.
pub const CHANNEL: &str = "archiver_jobs";

/// Listens for the life of the runtime, waking `wake`'s waiters.
pub fn spawn(target: Target, wake: Arc<Notify>) {
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            match listen(&target, &wake).await {
                Ok(()) => pause = Duration::from_secs(1),
                Err(e) => {
                    tracing::debug!(error = %e, "the database's notifications are lost for now")
                }
            }
            wake.notify_waiters();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    });
}

/// One connection's listening, until it ends.
async fn listen(target: &Target, wake: &Arc<Notify>) -> Result<(), tokio_postgres::Error> {
    let mut config = target.config.clone();
    config.connect_timeout(Duration::from_secs(5));
    let (client, mut connection) = config.connect(target.tls.clone()).await?;
    let woken = Arc::clone(wake);
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(_) = message? {
                woken.notify_waiters();
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Listening now: whatever was pushed before is looked for.
    wake.notify_waiters();
    let ended = driver.await;
    drop(client);
    match ended {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}

/// Lanes with work due now, told to every instance after the commit that
/// made it so, by one task: a notifying COMMIT takes PostgreSQL's
/// notification queue lock, which would make callbacks' commits wait on
/// each other instead of sharing a disk flush. Coalesced: while one
/// `NOTIFY` is sent, what comes meanwhile goes out with the next.
#[derive(Default)]
pub struct Wakes {
    lanes: [AtomicBool; 2],
    ready: Arc<Notify>,
}

impl Drop for Wakes {
    /// The sending task ends with the engine (and lets go of its pool).
    fn drop(&mut self) {
        self.ready.notify_one();
    }
}

impl Wakes {
    /// Notes `lane` to be told after the next commit.
    pub fn note(&self, lane: Lane) {
        self.lanes[usize::from(lane == Lane::Notifications)].store(true, Ordering::Release);
    }

    /// A transaction committed: what it noted goes out.
    pub fn committed(&self) {
        if self.lanes.iter().any(|l| l.load(Ordering::Acquire)) {
            self.ready.notify_one();
        }
    }

    /// Sends what is noted over `pool`, until `self` is dropped.
    pub fn spawn(self: &Arc<Self>, pool: deadpool_postgres::Pool) {
        let (wakes, ready) = (Arc::downgrade(self), Arc::clone(&self.ready));
        tokio::spawn(async move {
            loop {
                ready.notified().await;
                let Some(w) = wakes.upgrade() else { return };
                for (i, lane) in [(0, Lane::Files), (1, Lane::Notifications)] {
                    if !w.lanes[i].swap(false, Ordering::AcqRel) {
                        continue;
                    }
                    let payload = super::sql::lane(lane).to_string();
                    let sent = match pool.get().await {
                        Ok(c) => c
                            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    // Lost, the workers' poll finds the job a little later.
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "a wake-up was not sent");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::state::conformance::{pg::PgCluster, record, recording, t0};
    use crate::state::postgres::PgRepo;
    use crate::state::Repo;

    async fn instance(url: &str, name: &str) -> PgRepo {
        let target = Target::parse(url, 2).unwrap();
        PgRepo::connect(target, name, Duration::from_secs(60))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_pushed_on_one_instance_wakes_the_idle_workers_of_another() {
        let url = PgCluster::shared().fresh_database("wake");
        let a: Repo = Arc::new(instance(&url, "a").await);
        let b = instance(&url, "b").await;
        let wake = Arc::new(Notify::new());
        let mut listening = pin!(wake.notified());
        listening.as_mut().enable();
        crate::state::QueueRepo::wake_on_push(&b, Arc::clone(&wake));
        tokio::time::timeout(Duration::from_secs(10), listening)
            .await
            .expect("b listens");

        let mut pushed = pin!(wake.notified());
        pushed.as_mut().enable();
        let recorded = record(&a, vec![recording("http://o/x.flv", None, t0())], t0()).await;
        assert!(recorded[0].new_job.is_some());
        tokio::time::timeout(Duration::from_secs(5), pushed)
            .await
            .expect("b is woken by a's push");
    }
}
