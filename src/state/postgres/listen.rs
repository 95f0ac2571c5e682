//! `LISTEN` on its own connection: a job pushed, or made due now, by any
//! instance wakes this instance's idle workers at once, not at their next
//! poll. A lost connection is made again (and the workers woken, for what
//! was sent meanwhile).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::conn::Target;

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
