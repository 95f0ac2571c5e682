//! The process's lifecycle: open the state store, start the workers and the
//! HTTP server, tell systemd how it goes, and stop cleanly on SIGTERM/SIGINT.

mod rlimit;
pub mod systemd;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::source::Sources;
use crate::store::Store;
use crate::worker;

/// Runs the daemon until SIGTERM/SIGINT; `defaults` says no `--config` was given.
pub fn run(defaults: bool, mut config: Config) -> Result<(), Box<dyn std::error::Error>> {
    if defaults {
        tracing::info!("no --config given: running on built-in defaults");
    }
    match rlimit::raise_open_files() {
        Ok((before, after)) if before < after => {
            tracing::info!("open files limit raised from {before} to the hard limit {after}")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            "cannot raise the open files limit ({e}); set LimitNOFILE in the unit or ulimit -n"
        ),
    }
    for s in config
        .sources
        .iter()
        .filter(|s| s.accepted_tokens().next().is_none())
    {
        tracing::warn!(
            source = %s.name,
            "source {:?} accepts callbacks without a token; acceptable only because {} is a loopback address",
            s.name, config.server.listen
        );
    }
    std::fs::create_dir_all(&config.state.dir).map_err(|e| {
        format!(
            "cannot create state.dir {}: {e}",
            config.state.dir.display()
        )
    })?;
    // Opened first: its lock keeps a second daemon from making a token too.
    let db = Db::open_with_cache(&config.state.dir, config.state.cache_mb << 20)?;
    if config.api.token.is_empty() {
        let file = crate::auth::token_file::path(&config.state.dir);
        let token = crate::auth::token_file::load_or_create(&config.state.dir)?;
        config.api.token = crate::config::Secret::new(token);
        tracing::info!(
            file = %file.display(),
            "no [api] token set: the API and the UI take the one kept in the state directory"
        );
    }
    let config = Arc::new(config);
    let queue = Queue::new(db.clone())?
        .with_session_gap(Duration::from_secs(config.state.session_gap_secs));
    let requeued = queue.requeue_running(chrono::Utc::now())?;
    if requeued > 0 {
        tracing::warn!(
            jobs = requeued,
            "jobs left running by an unclean stop are queued again"
        );
    }
    db.flush_now()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Arc::new(Store::open(&config).await?);
        if let Err(e) = store.check().await {
            // Not fatal: callbacks are still received and kept; transfers retry.
            tracing::error!("the store does not answer: {e}");
        }
        let sources = Sources::build(&config).await?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let metrics = Arc::new(Metrics::of_instance(&config.instance_id));
        let notifier = Arc::new(crate::notify::Notifier::build(&config)?);
        let pool = worker::start(Arc::new(worker::Context {
            notifier: Arc::clone(&notifier),
            instance_id: config.instance_id.clone(),
            manifests: config.catalog.manifests,
            db: db.clone(),
            queue: queue.clone(),
            store: Arc::clone(&store),
            sources,
            transfer: config.transfer.clone(),
            wake: Arc::clone(&wake),
            metrics: Arc::clone(&metrics),
        }));
        let janitor = tokio::spawn(crate::janitor::run(Arc::new(crate::janitor::Janitor {
            db: db.clone(),
            store: Arc::clone(&store),
            transfer: config.transfer.clone(),
            orphan_age: config.store.orphan_upload_age(),
        })));
        tokio::spawn(heal_after_full_disk(db.clone(), config.state.dir.clone()));
        let sweeper = tokio::spawn(crate::local::run(
            queue.clone(),
            crate::local::Sweep::all(&config),
            Arc::clone(&wake),
        ));
        let manifests = config.catalog.manifests.then(|| {
            let m = Arc::new(crate::manifest::Manifests {
                db: db.clone(),
                store: Arc::clone(&store),
                instance: config.instance_id.clone(),
                every: Duration::from_secs(config.catalog.manifest_interval_secs),
                max_entries: config.catalog.manifest_max_entries,
            });
            (tokio::spawn(crate::manifest::run(Arc::clone(&m))), m)
        });
        let pruner = tokio::spawn(crate::retention::run(
            queue.clone(),
            crate::retention::Retention::of(&config.state),
        ));
        // Returns on SIGTERM/SIGINT once in-flight requests are answered.
        serve(
            Arc::clone(&config),
            db.clone(),
            queue,
            wake,
            store,
            metrics,
            notifier,
        )
        .await?;
        let grace = Duration::from_secs(config.transfer.shutdown_grace_secs);
        pool.shutdown(grace).await;
        // It holds nothing in memory: what it has yet to abort is on disk.
        janitor.abort();
        pruner.abort();
        // The entries filed up to the stop (the drain's included) go out
        // now, not a restart later: an instance may be stopped for good.
        if let Some((task, m)) = manifests {
            task.abort();
            let _ = task.await;
            m.flush(grace).await;
        }
        sweeper.abort();
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    db.flush_now()?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves HTTP until SIGTERM/SIGINT, telling systemd READY, WATCHDOG and
/// STOPPING; returns once the in-flight requests have finished.
async fn serve(
    config: Arc<Config>,
    db: Db,
    queue: Queue,
    wake: Arc<tokio::sync::Notify>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    notifier: Arc<crate::notify::Notifier>,
) -> std::io::Result<()> {
    let server = crate::http::bind(config, db, queue.clone(), wake, store, metrics, notifier)?;
    let handle = server.handle();
    // The state store is open and the listener bound: serving.
    systemd::send(systemd::NotifyState::Ready);
    if let Some(every) = systemd::watchdog_interval() {
        tokio::spawn(watchdog(queue, every));
    }
    tokio::spawn(async move {
        let signal = stop_signal().await;
        tracing::info!("{signal} received: stopping");
        systemd::send(systemd::NotifyState::Stopping);
        // Stop accepting; answer the requests in flight.
        handle.stop(true).await;
    });
    server.await
}

/// Pings systemd's watchdog every `every`, but only while the state store
/// answers: a wedged daemon gets restarted.
async fn watchdog(queue: Queue, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if queue.next_due().is_ok() {
            systemd::send(systemd::NotifyState::Watchdog);
        }
    }
}

/// Waits for SIGTERM or SIGINT; names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// The exit status asking to be started again (EX_TEMPFAIL): the unit's
/// `Restart=on-failure` does.
pub const EXIT_REOPEN: i32 = 75;

/// After a full disk: sled 0.34 keeps a failed log write as a global error,
/// so its writes keep failing after room returns. Callbacks meanwhile get
/// 503 (platforms retry) and `/readyz` says why. Once a probe file fits on
/// the state directory's disk again and the store still cannot write, the
/// daemon exits with [`EXIT_REOPEN`] so that systemd starts it again with
/// the store reopened; nothing acknowledged is lost, as every `200`
/// followed an fdatasync.
async fn heal_after_full_disk(db: Db, dir: std::path::PathBuf) {
    let mut idle = 0u32;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(failure) = db.write_failure() else {
            // Quiet for 10 s: a probe write, so a failure is found before
            // the next callback meets it.
            idle += 1;
            if idle >= 10 {
                idle = 0;
                let _ = probe_write(&db).await;
            }
            continue;
        };
        let probe = dir.join(crate::db::ROOM_PROBE);
        let room = tokio::task::spawn_blocking(move || room_for(&probe))
            .await
            .unwrap_or(false);
        if !room {
            continue;
        }
        if probe_write(&db).await.is_ok() {
            tracing::info!("the state store writes again");
            continue;
        }
        tracing::error!(error = %failure, "the state directory's disk has room again but the state store still cannot write; exiting to be started again with it reopened");
        std::process::exit(EXIT_REOPEN);
    }
}

/// Whether 4 MiB can be written and synced at `probe` (removed after).
fn room_for(probe: &std::path::Path) -> bool {
    use std::io::Write;
    let written = std::fs::File::create(probe).and_then(|mut f| {
        f.write_all(&vec![0u8; 4 << 20])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(probe);
    written.is_ok()
}

/// A durable write, as a callback's is.
async fn probe_write(db: &Db) -> Result<(), crate::db::DbError> {
    let now = chrono::Utc::now().timestamp_millis().to_be_bytes();
    db.commit(move |tx| tx.insert(crate::db::Tree::Meta, b"ready_probe", &now))
        .await
}
