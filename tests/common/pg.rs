//! A real PostgreSQL for the tests: Debian's `postgresql` (scripts/test
//! installs it), `initdb` into a temporary directory and the postmaster run
//! in the foreground on a free port. Self-contained (std, libc, tempfile) so
//! unit tests under src/ can include it with `#[path]`.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a start may take before the test fails with the server's log.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A PostgreSQL cluster of its own; the postmaster is killed when dropped,
/// and by the kernel (PR_SET_PDEATHSIG) if the test process dies first.
pub struct PgCluster {
    pub port: u16,
    /// The data directory (`initdb`'s).
    pub data: PathBuf,
    bin: PathBuf,
    postmaster: Mutex<Option<Child>>,
    /// Holds the data directory, the socket and the log; removed when dropped.
    temp: tempfile::TempDir,
    /// How long `start` took: initdb and the first readiness.
    pub started_in: Duration,
    /// Whether the server fsyncs its WAL (a benchmark's figures need it).
    fsync: bool,
}

/// The directory of Debian's PostgreSQL binaries (any major version).
pub fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("postgres").exists() && b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("no /usr/lib/postgresql/*/bin/postgres: install Debian's postgresql (scripts/test does)")
    })
}

/// The postgres user's ids when this process is root (initdb and the
/// server refuse to run as root), else None: run as ourselves.
fn run_as() -> Option<(libc::uid_t, libc::gid_t)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = c"postgres";
    // SAFETY: a NUL-terminated name; the entry is read before any other
    // getpw* call could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root, but there is no `postgres` user (Debian's postgresql package makes it)"
    );
    // SAFETY: non-null, as checked.
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// `command` set to drop to `ids` (if any) and to be SIGKILLed when the
/// thread that spawned it exits (with the test process).
fn confine(command: &mut Command, ids: Option<(libc::uid_t, libc::gid_t)>) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid)) = ids {
                if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After the uid change, which clears the death signal.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// A spawn request for the spawner thread: the command and where to answer.
type Spawn = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from a thread that never exits: PR_SET_PDEATHSIG fires
/// when the spawning *thread* ends, so a test's own thread must not spawn.
fn spawn_kept(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Spawn>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Spawn>();
        std::thread::Builder::new()
            .name("pg-spawner".into())
            .spawn(move || {
                for (mut command, answer) in rx {
                    let _ = answer.send(command.spawn());
                }
                // Every sender gone (the process is ending): stay, so the
                // children stay alive until the process itself exits.
                loop {
                    std::thread::park();
                }
            })
            .expect("the spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, tx))
        .expect("the spawner thread runs");
    rx.recv().expect("the spawner thread answers")
}

impl PgCluster {
    /// A fresh cluster: initdb, then the server on a free port, ready;
    /// fsync off (why: in `launch`).
    pub fn start() -> PgCluster {
        PgCluster::start_with(false)
    }

    /// [`PgCluster::start`] with fsync on, as a production server runs:
    /// for figures of durable commits (benchmarks).
    pub fn start_durable() -> PgCluster {
        PgCluster::start_with(true)
    }

    fn start_with(fsync: bool) -> PgCluster {
        let began = Instant::now();
        let bin = bin_dir();
        let ids = run_as();
        let temp = tempfile::Builder::new()
            .prefix("pg-")
            .tempdir()
            .expect("a temporary directory");
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(temp.path(), Some(uid), Some(gid))
                .expect("chown the cluster's directory to postgres");
        }
        let data = temp.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["--no-sync", "-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C", "-D"])
            .arg(&data)
            .stdin(Stdio::null());
        confine(&mut initdb, ids);
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cluster = PgCluster {
            port: 0,
            data,
            bin,
            postmaster: Mutex::new(None),
            temp,
            started_in: Duration::ZERO,
            fsync,
        };
        // A port picked free may be taken before the server binds it: try another.
        for attempt in 1..=3 {
            cluster.port = free_port();
            match cluster.launch() {
                Ok(()) => break,
                Err(log) if attempt < 3 && log.contains("could not bind") => continue,
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        }
        cluster.started_in = began.elapsed();
        cluster
    }

    /// One cluster shared by every test of the binary (each test makes its
    /// own database); the kernel kills it when the test process exits.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let c = PgCluster::start();
            eprintln!(
                "PostgreSQL on port {} started in {:.2} s",
                c.port,
                c.started_in.as_secs_f64()
            );
            // A static is never dropped: remove the directory at exit.
            extern "C" fn at_exit() {
                if let Some(c) = SHARED.get() {
                    c.kill();
                    let _ = std::fs::remove_dir_all(c.temp.path());
                }
            }
            // SAFETY: registering a plain function.
            unsafe { libc::atexit(at_exit) };
            c
        })
    }

    fn log_path(&self) -> PathBuf {
        self.temp.path().join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs the postmaster (same directory, `self.port`) and waits until it
    /// takes connections; Err(its log) if it exits or stays unready.
    fn launch(&self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("the log file: {e}"))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(self.temp.path())
            // Several daemons with their pools, and instances killed whose
            // connections the server has yet to notice.
            .args(["-c", "max_connections=300"])
            // Unless durable: the tests kill processes, never the machine;
            // a commit is in the server's WAL (the OS cache) before it is
            // acknowledged, so skipping fsync loses nothing they can
            // observe, and keeps a shared two-core machine fast.
            .args(["-c", if self.fsync { "fsync=on" } else { "fsync=off" }])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        confine(&mut command, run_as());
        let child = spawn_kept(command).map_err(|e| format!("spawn postgres: {e}"))?;
        *self.postmaster.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        let began = Instant::now();
        loop {
            let exited = self
                .postmaster
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .map(|c| c.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            if exited {
                return Err(self.log());
            }
            if self.ready() {
                return Ok(());
            }
            if began.elapsed() > READY_WITHIN {
                self.kill();
                return Err(format!("not ready within {READY_WITHIN:?}\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server answers a query now.
    pub fn ready(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && self.try_psql("postgres", "select 1").is_ok()
    }

    /// `sql` run by psql on database `db`: its output (unaligned, tuples
    /// only), or its error.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", db, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// [`PgCluster::try_psql`], failing the test on an error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql on {db}: {sql}: {e}"))
    }

    /// A new empty database named `name`; its URL.
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// A new empty database with a name no other call gave; its URL.
    pub fn fresh_database(&self, hint: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{}_{}_{}",
            hint,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.database(&name)
    }

    /// The URL of database `name` (user postgres, trusted: no password).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A fast shutdown (`pg_ctl stop -m fast`: SIGINT to the postmaster):
    /// sessions are ended, a checkpoint written; waits for the exit.
    pub fn stop_fast(&self) {
        let mut slot = self.postmaster.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut child) = slot.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: a signal to our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGINT) };
            }
            let began = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if began.elapsed() > READY_WITHIN {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "PostgreSQL did not stop within {READY_WITHIN:?}\n{}",
                        self.log()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The server again on the same directory and port, after
    /// [`PgCluster::stop_fast`]; waits until it takes connections.
    pub fn start_again(&self) {
        if let Err(log) = self.launch() {
            panic!(
                "PostgreSQL did not start again on port {}:\n{log}",
                self.port
            );
        }
    }

    /// An immediate shutdown (SIGQUIT: the postmaster ends its backends
    /// and exits at once, no checkpoint), SIGKILL if it lingers.
    pub fn kill(&self) {
        let mut slot = self.postmaster.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut child) = slot.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: a signal to our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGQUIT) };
            }
            let began = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if began.elapsed() > Duration::from_secs(5) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// The directory that holds the data directory, socket and log.
    pub fn dir(&self) -> &Path {
        self.temp.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.kill();
    }
}
