//! Group commit: one thread takes every write waiting, applies them all in
//! ONE transaction, flushes once, then answers each.
//!
//! Measured here (2 cores; see BENCHMARKS.md): a 5-tree transaction per
//! callback caps ingest near 12k/s; 32 callbacks per transaction reach 41k/s.
//! A flush per request (or sled's `flush_async` under concurrency) would cap
//! it far lower still. Batching both is what makes durable-before-200
//! affordable. Applying the next batch while the previous one flushes was
//! tried and measured slower (9.7k/s against 17k/s): the engine then seals
//! more, smaller buffers, and its flush contends with the writes.

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use tokio::sync::oneshot;

use super::engine::{Engine, Tx, TxError};
use super::DbError;

/// At most this many writes share one transaction, bounding its latency.
const MAX_BATCH: usize = 1024;

type Output = Box<dyn Any + Send>;
type Apply = Box<dyn Fn(&Tx) -> Result<Output, TxError> + Send>;
type Prepare = Box<dyn FnOnce(&Engine) -> Result<(), DbError> + Send>;
type Reply = oneshot::Sender<Result<Output, DbError>>;

struct Pending {
    /// Run once, on the writer's thread, before the batch's transaction
    /// (which the engine may run more than once): unique ids are drawn here.
    prepare: Option<Prepare>,
    apply: Apply,
    reply: Reply,
}

/// A queue between threads: push from many, take all at once from one.
struct Handoff<T> {
    state: Mutex<(Vec<T>, bool)>,
    wake: Condvar,
}

impl<T> Handoff<T> {
    fn new() -> Self {
        Handoff {
            state: Mutex::new((Vec::new(), false)),
            wake: Condvar::new(),
        }
    }

    /// Adds an item; `Err` gives it back once the queue is closed.
    fn push(&self, item: T) -> Result<(), T> {
        match self.state.lock() {
            Ok(mut st) if !st.1 => st.0.push(item),
            _ => return Err(item),
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Waits for items and takes up to `max`; `None` once closed and drained.
    fn take(&self, max: usize) -> Option<Vec<T>> {
        let mut st = self.state.lock().ok()?;
        while st.0.is_empty() && !st.1 {
            st = self.wake.wait(st).ok()?;
        }
        if st.0.is_empty() {
            return None;
        }
        let n = st.0.len().min(max);
        Some(st.0.drain(..n).collect())
    }

    fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.1 = true;
        }
        self.wake.notify_all();
    }
}

/// Handle to the writer thread; it drains and ends when this drops.
pub struct Writer {
    incoming: Arc<Handoff<Pending>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread.
    /// Starts the writer thread; `failing` holds the last commit's error
    /// until a commit succeeds again.
    pub fn start(
        engine: Arc<Engine>,
        failing: Arc<Mutex<Option<DbError>>>,
    ) -> Result<Self, DbError> {
        let incoming = Arc::new(Handoff::new());
        let queue = Arc::clone(&incoming);
        let thread = thread::Builder::new()
            .name("state-writer".to_owned())
            .spawn(move || run(&engine, &queue, &failing))
            .map_err(|e| DbError::Thread(e.to_string()))?;
        Ok(Writer {
            incoming,
            thread: Some(thread),
        })
    }

    /// Applies `write` and resolves once it is on disk.
    pub async fn submit<R: Send + 'static>(
        &self,
        write: impl Fn(&Tx) -> Result<R, TxError> + Send + 'static,
    ) -> Result<R, DbError> {
        let apply: Apply = Box::new(move |tx| write(tx).map(|r| Box::new(r) as Output));
        self.send(None, apply).await
    }

    /// Runs `prepare` once on the writer's thread, then applies `write` to
    /// what it made, and resolves once that is on disk.
    pub async fn submit_prepared<P: Send + Sync + 'static, R: Send + 'static>(
        &self,
        prepare: impl FnOnce(&Engine) -> Result<P, DbError> + Send + 'static,
        write: impl Fn(&Tx, &P) -> Result<R, TxError> + Send + 'static,
    ) -> Result<R, DbError> {
        let made: Arc<std::sync::OnceLock<P>> = Arc::default();
        let fill = Arc::clone(&made);
        let prepare: Prepare = Box::new(move |engine| {
            let _ = fill.set(prepare(engine)?);
            Ok(())
        });
        let apply: Apply = Box::new(move |tx| {
            let p = made
                .get()
                .ok_or_else(|| DbError::Transaction("a write ran unprepared".to_owned()))?;
            write(tx, p).map(|r| Box::new(r) as Output)
        });
        self.send(Some(prepare), apply).await
    }

    async fn send<R: Send + 'static>(
        &self,
        prepare: Option<Prepare>,
        apply: Apply,
    ) -> Result<R, DbError> {
        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            prepare,
            apply,
            reply,
        };
        if self.incoming.push(pending).is_err() {
            return Err(DbError::Transaction(
                "the state store is closing".to_owned(),
            ));
        }
        let out = rx
            .await
            .map_err(|_| DbError::Transaction("the state writer stopped".to_owned()))??;
        // The writer answers each write with what that write returned.
        Ok(*out
            .downcast::<R>()
            .expect("a write's output has the write's type"))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.incoming.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(engine: &Engine, incoming: &Handoff<Pending>, failing: &Mutex<Option<DbError>>) {
    while let Some(batch) = incoming.take(MAX_BATCH) {
        let (mut writes, mut replies) = (Vec::with_capacity(batch.len()), Vec::new());
        for p in batch {
            if let Some(prepare) = p.prepare {
                if let Err(e) = prepare(engine) {
                    let _ = p.reply.send(Err(e));
                    continue;
                }
            }
            writes.push(p.apply);
            replies.push(p.reply);
        }
        // Every write of the batch is applied, then one flush covers them
        // all: nobody hears "stored" before its bytes are on disk.
        let started = Instant::now();
        let result = engine
            .transaction(|tx| writes.iter().map(|w| w(tx)).collect::<Result<Vec<_>, _>>())
            .and_then(|outputs| {
                let applied = Instant::now();
                let bytes = engine.flush()?;
                tracing::trace!(
                    requests = writes.len(),
                    apply_us = (applied - started).as_micros() as u64,
                    flush_us = applied.elapsed().as_micros() as u64,
                    bytes,
                    "batch committed"
                );
                Ok(outputs)
            });
        // Only the storage failing counts, not one write's own abort.
        if let Ok(mut f) = failing.lock() {
            match &result {
                Ok(_) => *f = None,
                Err(e @ DbError::Engine(_)) => *f = Some(e.clone()),
                Err(_) => {}
            }
        }
        match result {
            Ok(outputs) => {
                for (reply, output) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(output));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = replies.len(), "state write failed");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
