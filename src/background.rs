//! Every background task in one shape (garage's `Worker`): a step of work
//! at a time, a wait for more, and one way to stop. The transfer workers,
//! the notification deliverers, the janitor, the pruner, the file-origin
//! sweeper and the manifest writer are each a [`Worker`] run by
//! [`Workers`], which stops them all the same way.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a step of work came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// There may be more to do now: work again.
    Busy,
    /// Nothing to do: wait for work.
    Idle,
}

/// A background task.
#[async_trait::async_trait]
pub trait Worker: Send + 'static {
    /// Its name in logs.
    fn name(&self) -> String;

    /// One step of work.
    async fn work(&mut self) -> Next;

    /// Resolves when there may be work again.
    async fn wait_for_work(&mut self);

    /// Whether a step still running when the stop's grace ends is simply
    /// dropped (true), or told to stop through [`Stop::interrupted`] and
    /// awaited (a transfer, which leaves its job and upload in order).
    fn dropped_at_interrupt(&self) -> bool {
        true
    }

    /// At a clean stop, once no step runs (the manifest writer writes
    /// what is queued).
    async fn at_stop(&mut self, _grace: Duration) {}
}

/// What a worker sees of the stop.
#[derive(Clone)]
pub struct Stop {
    stop: watch::Receiver<bool>,
    interrupt: watch::Receiver<bool>,
}

impl Stop {
    /// Resolves once a stop is asked for: a step waiting for its turn
    /// (not yet working) gives up.
    pub async fn stopping(&mut self) {
        let _ = self.stop.wait_for(|s| *s).await;
    }

    /// Resolves once the stop's grace is over (never before a stop).
    pub async fn interrupted(&mut self) {
        let _ = self.interrupt.wait_for(|i| *i).await;
    }

    /// True once the stop's grace is over.
    pub fn is_interrupted(&self) -> bool {
        *self.interrupt.borrow()
    }
}

/// Workers started together and stopped together.
pub struct Workers {
    stop: watch::Sender<bool>,
    interrupt: watch::Sender<bool>,
    running: Vec<JoinHandle<()>>,
    /// How long running steps get at a stop (`transfer.shutdown_grace_secs`).
    grace: Duration,
}

impl Workers {
    /// An empty set whose stop gives running steps `grace`.
    pub fn new(grace: Duration) -> Workers {
        Workers {
            stop: watch::channel(false).0,
            interrupt: watch::channel(false).0,
            running: Vec::new(),
            grace,
        }
    }

    /// What a worker of this set is handed to see the stop's interrupt.
    pub fn stop_signal(&self) -> Stop {
        Stop {
            stop: self.stop.subscribe(),
            interrupt: self.interrupt.subscribe(),
        }
    }

    /// Starts `w`.
    pub fn spawn(&mut self, w: impl Worker) {
        let (stop, interrupt) = (self.stop.subscribe(), self.interrupt.subscribe());
        let grace = self.grace;
        self.running
            .push(tokio::spawn(run(w, stop, interrupt, grace)));
    }

    /// Stops every worker: no new step starts; steps running get the grace
    /// to finish, then are interrupted; then each worker's `at_stop`.
    pub async fn shutdown(self) {
        let grace = self.grace;
        let _ = self.stop.send(true);
        let mut all = futures_util::future::join_all(self.running);
        if tokio::time::timeout(grace, &mut all).await.is_err() {
            tracing::info!("interrupting the work still running after {grace:?}");
            let _ = self.interrupt.send(true);
            all.await;
        }
    }
}

async fn run(
    mut w: impl Worker,
    mut stop: watch::Receiver<bool>,
    interrupt: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut cut = Stop {
        stop: stop.clone(),
        interrupt,
    };
    loop {
        if *stop.borrow() {
            break;
        }
        let next = if w.dropped_at_interrupt() {
            tokio::select! {
                n = w.work() => n,
                _ = cut.interrupted() => {
                    tracing::debug!(worker = %w.name(), "interrupted at stop");
                    break;
                }
            }
        } else {
            w.work().await
        };
        if next == Next::Busy {
            continue;
        }
        tokio::select! {
            _ = w.wait_for_work() => {}
            _ = stop.changed() => {}
        }
    }
    w.at_stop(grace).await;
}
