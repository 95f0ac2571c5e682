//! Starting on a PostgreSQL state, the real binary against a real
//! PostgreSQL: TLS as managed databases require it (a certificate of a
//! test CA; `sslmode=verify-full` with that CA as `sslrootcert` connects
//! encrypted, another CA is refused at start, saying why), and one process
//! per `instance_id` on a database.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::{jd_record_done, Daemon};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir`: `<name>.pem`, `<name>.key`.
fn ca(dir: &Path, name: &str) {
    let (pem, key, subj) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("/CN={name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// The server's certificate for 127.0.0.1, signed by the CA `ca`.
fn server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// Turns TLS on in `pg` with `dir`'s server.crt/server.key (a reload, no restart).
fn serve_tls(pg: &PgCluster, dir: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let owner = std::fs::metadata(&pg.data).unwrap();
    for f in ["server.crt", "server.key"] {
        let to = pg.data.join(f);
        std::fs::copy(dir.join(f), &to).unwrap();
        std::os::unix::fs::chown(&to, Some(owner.uid()), Some(owner.gid())).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    pg.psql("postgres", "ALTER SYSTEM SET ssl = on");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    let began = Instant::now();
    while pg.psql("postgres", "SHOW ssl") != "on" {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "TLS not on: {}",
            pg.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the daemon on `text` (`DIR` in it: a temporary directory) with
/// its state at `url`, and expects it to stop at once; what it said.
fn refused(text: &str, url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        text.replace("DIR", &dir.path().display().to_string()),
    )
    .unwrap();
    let began = Instant::now();
    let out = Command::new(common::binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("RECORDING_ARCHIVER__STATE__URL", url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "it waited: {stderr}"
    );
    stderr
}

const SOURCE: &str = "[[sources]]\nname = \"jd\"\nprovider = \"jdcloud\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_encrypted_and_an_unknown_ca_is_refused_at_start() {
    let pg = PgCluster::start();
    let certs = tempfile::tempdir().unwrap();
    ca(certs.path(), "ca");
    ca(certs.path(), "other-ca");
    server_cert(certs.path(), "ca");
    serve_tls(&pg, certs.path());
    let db = pg.database("tls");
    let root = certs.path().join("ca.pem");
    let url = format!("{db}?sslmode=verify-full&sslrootcert={}", root.display());

    let dir = tempfile::tempdir().unwrap();
    let env = [("RECORDING_ARCHIVER__STATE__URL", url.as_str())];
    let d = tokio::task::block_in_place(|| Daemon::start_with_env(dir.path(), SOURCE, &env));
    let (status, body) = d
        .post(
            "jd",
            Some("application/json"),
            jd_record_done("http://example.invalid/a.flv", "s"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let encrypted = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'recording-archiver' AND s.ssl",
    );
    assert!(
        encrypted.parse::<u32>().unwrap() > 0,
        "no encrypted connection"
    );
    let plain = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'recording-archiver' AND NOT s.ssl",
    );
    assert_eq!(plain, "0", "a connection was not encrypted");
    let jobs = d.all_items("/api/v1/jobs").await;
    assert_eq!(jobs.len(), 1);
    drop(d);

    // Another CA: the certificate cannot be trusted, and waiting will not
    // change that, so the daemon stops at once, saying why.
    let other = certs.path().join("other-ca.pem");
    let url = format!("{db}?sslmode=verify-full&sslrootcert={}", other.display());
    let stderr = refused(&common::config_text(Path::new("DIR"), SOURCE), &url);
    assert!(stderr.contains("[state] url"), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_under_the_same_instance_id_is_refused_and_a_killed_one_restarts() {
    let pg = PgCluster::shared();
    let url = pg.fresh_database("same_id");
    let env = [("RECORDING_ARCHIVER__STATE__URL", url.as_str())];
    let text = |dir: &Path| format!("instance_id = \"a\"\n{}", common::config_text(dir, SOURCE));
    let first_dir = tempfile::tempdir().unwrap();
    let mut first = tokio::task::block_in_place(|| {
        Daemon::start_config(first_dir.path(), &text(first_dir.path()), &env, &[])
    });

    // Its running jobs and manifests are the first one's: refused, saying why.
    let stderr = refused(&text(Path::new("DIR")), &url);
    assert!(stderr.contains("instance_id = \"a\""), "{stderr}");

    // Killed, it is the same instance when it starts again, at once.
    first.kill9();
    let began = Instant::now();
    let again = tokio::task::block_in_place(|| {
        Daemon::start_config(first_dir.path(), &text(first_dir.path()), &env, &[])
    });
    assert!(began.elapsed() < Duration::from_secs(15));
    let (status, body) = again
        .post(
            "jd",
            Some("application/json"),
            jd_record_done("http://example.invalid/b.flv", "s"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_acknowledges_commits_before_they_are_on_disk_is_refused() {
    let pg = PgCluster::shared();
    let url = pg.fresh_database("async_commit");
    let db = url.rsplit('/').next().unwrap();
    pg.psql(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" SET synchronous_commit = off"),
    );
    let stderr = refused(&common::config_text(Path::new("DIR"), SOURCE), &url);
    assert!(stderr.contains("synchronous_commit"), "{stderr}");
}
