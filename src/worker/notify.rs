//! A notification job's attempt: deliver it, then record the outcome with
//! the same retry policy as any job.

use super::heartbeat::Heartbeat;
use super::Context;
use crate::queue::Job;
use crate::retry::delay_after;

pub(super) async fn deliver(ctx: &Context, job: Job) {
    let lease = std::time::Duration::from_secs(ctx.transfer.lease_secs);
    let beat = Heartbeat::start(ctx.repo.clone(), job.clone(), lease);
    // Sent only once what it tells of is on disk: the transaction that made
    // it may still be waiting for its flush.
    let result = match ctx.repo.durable().await {
        Ok(()) => ctx.notifier.deliver(&job).await,
        Err(e) => Err(super::state_failure(e)),
    };
    drop(beat);
    let now = crate::time::now();
    let recorded = match &result {
        Ok(()) => ctx.repo.delivered(&job, now).await,
        Err(f) if f.should_retry(job.attempts, &ctx.transfer) => {
            let wait = delay_after(job.attempts, &ctx.transfer);
            let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
            ctx.repo.retry_at(&job, &f.message, at, now).await
        }
        Err(f) => ctx.repo.fail(&job, &f.message, Vec::new(), now).await,
    };
    let durable = match recorded {
        Ok(Some(_)) => ctx.repo.durable().await,
        Ok(None) => return, // the lease was taken over: the new claim decides
        Err(e) => Err(e),
    };
    let target = job.notification.as_ref().map_or("", |n| n.target.as_str());
    match (durable, result) {
        (Err(e), _) => tracing::error!(error = %e, "cannot record the notification's outcome"),
        (Ok(()), Ok(())) => tracing::info!(target, "notification delivered"),
        (Ok(()), Err(f)) => {
            tracing::warn!(
                target,
                attempt = job.attempts,
                "notification not delivered: {}",
                f.message
            )
        }
    }
}
