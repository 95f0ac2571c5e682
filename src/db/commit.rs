//! Group commit: one thread flushes sled once for every caller waiting, so a
//! burst of callbacks shares one fsync instead of paying one each.
//! (`sled::Db::flush_async` stalls under concurrent callers, and a blocking
//! flush per request caps throughput at a third of this.)

use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct State {
    waiting: Vec<Waiter>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// Handle to the committer thread; the thread ends when the last handle drops.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    /// Starts the committer thread for `db`.
    pub fn start(db: sled::Db) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("sled-commit".to_owned())
            .spawn(move || run(&db, &worker))?;
        Ok(Committer {
            shared,
            thread: Some(thread),
        })
    }

    /// Resolves once everything written before this call is on disk.
    pub async fn flush(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self
                .shared
                .state
                .lock()
                .map_err(|_| "the commit thread panicked".to_owned())?;
            if st.closed {
                return Err("the state store is shutting down".to_owned());
            }
            st.waiting.push(tx);
        }
        self.shared.wake.notify_one();
        rx.await
            .map_err(|_| "the commit thread stopped".to_owned())?
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.closed = true;
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(db: &sled::Db, shared: &Shared) {
    loop {
        let batch = {
            let Ok(mut st) = shared.state.lock() else {
                return;
            };
            while st.waiting.is_empty() && !st.closed {
                st = match shared.wake.wait(st) {
                    Ok(st) => st,
                    Err(_) => return,
                };
            }
            if st.waiting.is_empty() && st.closed {
                return;
            }
            std::mem::take(&mut st.waiting)
        };
        // Every waiter in `batch` registered after its writes, and this flush
        // starts after it registered, so the flush covers its writes.
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        for w in batch {
            let _ = w.send(result.clone());
        }
    }
}
