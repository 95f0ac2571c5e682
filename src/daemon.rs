//! The process's lifecycle: open the state store, start the workers and the
//! HTTP server, tell systemd how it goes, and stop cleanly on SIGTERM/SIGINT.

mod preflight;
mod rlimit;
pub mod systemd;
mod whereabouts;

pub use preflight::{checked_config, preflight};

use std::sync::Arc;
use std::time::Duration;

use crate::background::Workers;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::queue::Lane;
use crate::source::Sources;
use crate::state::Repo;
use crate::store::Store;
use crate::worker;

/// Runs the daemon until SIGTERM/SIGINT; `defaults` says no `--config` was given.
pub fn run(defaults: bool, mut config: Config) -> Result<(), Box<dyn std::error::Error>> {
    if defaults {
        tracing::info!("no --config given: running on built-in defaults");
    }
    for w in preflight(&config)? {
        tracing::warn!("{w}");
    }
    prepare_process();
    std::fs::create_dir_all(&config.state.dir).map_err(|e| {
        format!(
            "cannot create state.dir {}: {e}",
            config.state.dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Opened first: its lock keeps a second daemon from making a token too.
    let repo = runtime.block_on(open_state(&config))?;
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
    runtime.block_on(async {
        let requeued = repo.requeue_running(crate::time::now()).await?;
        if requeued > 0 {
            tracing::warn!(
                jobs = requeued,
                "jobs left running by an unclean stop are queued again"
            );
        }
        repo.flush().await?;
        run_services(config, repo.clone()).await?;
        repo.flush().await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// The open files limit raised.
fn prepare_process() {
    match rlimit::raise_open_files() {
        Ok((before, after)) if before < after => {
            tracing::info!("open files limit raised from {before} to the hard limit {after}")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            "cannot raise the open files limit ({e}); set LimitNOFILE in the unit or ulimit -n"
        ),
    }
}

/// Opens the state; a database not answering yet is waited for a while
/// (it may be starting with this machine), saying so.
async fn open_state(config: &Config) -> Result<Repo, crate::state::StateError> {
    let mut waited = Duration::ZERO;
    loop {
        match crate::state::open(config).await {
            Err(e @ crate::state::StateError::Unreachable(_))
                if waited < Duration::from_secs(60) =>
            {
                tracing::warn!(error = %e, "the state's database does not answer yet; trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
                waited += Duration::from_secs(2);
            }
            other => return other,
        }
    }
}

/// Starts the workers and the upkeep, serves until SIGTERM/SIGINT, then
/// stops the transfers (their grace, then interrupted) and the upkeep.
async fn run_services(config: Arc<Config>, repo: Repo) -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(Store::open(&config).await?);
    if let Err(e) = store.check().await {
        // Not fatal: callbacks are still received and kept; transfers retry.
        tracing::error!("the store does not answer: {e}");
    }
    let sources = Sources::build(&config).await?;
    let wake = Arc::new(tokio::sync::Notify::new());
    repo.wake_on_push(Arc::clone(&wake));
    let metrics = Arc::new(Metrics::of_instance(&config.instance_id));
    let notifier = Arc::new(crate::notify::Notifier::build(&config)?);
    let transfers = worker::start(Arc::new(worker::Context {
        notifier: Arc::clone(&notifier),
        instance_id: config.instance_id.clone(),
        manifests: config.catalog.manifests,
        config_file: config.file.clone(),
        repo: repo.clone(),
        store: Arc::clone(&store),
        sources,
        transfer: config.transfer.clone(),
        wake: Arc::clone(&wake),
        metrics: Arc::clone(&metrics),
    }));
    let backlog = Arc::new(crate::backlog::Backlog::default());
    let mut upkeep = upkeep(&config, &repo, &store, &wake);
    for sweep in crate::bucket_sweep::BucketSweep::all(&config, &repo, &wake).await {
        upkeep.spawn(sweep);
    }
    upkeep.spawn(crate::backlog::Sampler {
        repo: repo.clone(),
        backlog: Arc::clone(&backlog),
    });
    let healing = repo.clone();
    tokio::spawn(async move {
        healing.heal().await;
        tracing::error!("exiting to be started again with the state store reopened");
        std::process::exit(EXIT_REOPEN);
    });
    // Returns on SIGTERM/SIGINT once in-flight requests are answered.
    let kept = repo.rejected_counts().await?;
    let app = crate::http::App {
        config,
        repo,
        kept,
        wake,
        store,
        metrics,
        notifier,
        backlog,
    };
    serve(app).await?;
    transfers.shutdown().await;
    // The entries filed up to the stop (the drain's included) go out now,
    // not a restart later: an instance may be stopped for good.
    upkeep.shutdown().await;
    Ok(())
}

/// The janitor, the pruner, the file-origin sweeps and the manifest writer.
fn upkeep(
    config: &Config,
    repo: &Repo,
    store: &Arc<Store>,
    wake: &Arc<tokio::sync::Notify>,
) -> Workers {
    let mut upkeep = Workers::new(Duration::from_secs(config.transfer.shutdown_grace_secs));
    upkeep.spawn(crate::janitor::Janitor {
        repo: repo.clone(),
        store: Arc::clone(store),
        transfer: config.transfer.clone(),
        orphan_age: config.store.orphan_upload_age(),
        next_sweep: tokio::time::Instant::now(),
    });
    upkeep.spawn(crate::retention::Pruner {
        repo: repo.clone(),
        retention: crate::state::Retention::of(&config.state),
    });
    for sweep in crate::local::Sweep::all(config) {
        upkeep.spawn(crate::local::Sweeper {
            repo: repo.clone(),
            sweep,
            wake: Arc::clone(wake),
        });
    }
    if config.catalog.manifests {
        upkeep.spawn(crate::manifest::Manifests {
            repo: repo.clone(),
            store: Arc::clone(store),
            instance: config.instance_id.clone(),
            every: Duration::from_secs(config.catalog.manifest_interval_secs),
            max_entries: config.catalog.manifest_max_entries,
            numbered: false,
        });
    }
    upkeep
}

/// Serves HTTP until SIGTERM/SIGINT, telling systemd READY, WATCHDOG and
/// STOPPING; returns once the in-flight requests have finished.
async fn serve(app: crate::http::App) -> std::io::Result<()> {
    let repo = app.repo.clone();
    let config = Arc::clone(&app.config);
    let server = crate::http::bind(app)?;
    tracing::info!(
        "{}",
        whereabouts::describe(&config, &crate::net::own_listeners())
    );
    let handle = server.handle();
    // The state store is open and the listener bound: serving.
    systemd::send(systemd::NotifyState::Ready);
    if let Some(every) = systemd::watchdog_interval() {
        tokio::spawn(watchdog(repo, every));
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
async fn watchdog(repo: Repo, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if repo.next_due(Lane::Files).await.is_ok() {
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
