//! Where the engine connects: `[state] url` read as libpq reads it
//! (`sslmode`, `sslrootcert` included, which tokio-postgres does not read
//! itself), the pool over it, and its timeouts.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::config::SslMode;

use super::tls::{self, Verify};
use crate::state::StateError;

/// A database to connect to, and how.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
    pub pool_size: usize,
    /// Connection and pool-wait timeouts; off in unit tests, whose paused
    /// clock would fire them while a socket is waited on.
    pub timeouts: bool,
}

/// `[state] url` wrong, in one line naming the key.
fn bad(message: impl std::fmt::Display) -> StateError {
    StateError::Engine(format!("state.url: {message}"))
}

impl Target {
    /// Reads `url`, with a pool of `pool_size` connections.
    pub fn parse(url: &str, pool_size: usize) -> Result<Target, StateError> {
        crate::config::state_url::check(url).map_err(bad)?;
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut mode, mut root) = ("prefer".to_owned(), None);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = v.to_owned(),
                Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
                _ => kept.push(pair),
            }
        }
        let url = match kept.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", kept.join("&")),
        };
        let mut config = tokio_postgres::Config::from_str(&url).map_err(bad)?;
        let (ssl, verify) = match (mode.as_str(), &root) {
            ("disable", _) => (SslMode::Disable, Verify::Nothing),
            ("prefer", _) => (SslMode::Prefer, Verify::Nothing),
            // As libpq: `require` with a root certificate checks the chain.
            ("require", None) => (SslMode::Require, Verify::Nothing),
            ("require" | "verify-ca", _) => (SslMode::Require, Verify::Chain),
            _ => (SslMode::Require, Verify::Full),
        };
        config.ssl_mode(ssl);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("recording-archiver");
        let tls = tls::connector(verify, root.as_deref()).map_err(bad)?;
        Ok(Target {
            config,
            tls,
            pool_size,
            timeouts: true,
        })
    }

    /// The pool over this target (connections are made when first needed).
    pub fn pool(&self) -> Result<Pool, StateError> {
        let mut config = self.config.clone();
        let mut timeouts = Timeouts::new();
        if self.timeouts {
            config.connect_timeout(Duration::from_secs(5));
            timeouts.wait = Some(Duration::from_secs(10));
            timeouts.create = Some(Duration::from_secs(10));
            timeouts.recycle = Some(Duration::from_secs(5));
        }
        let manager = Manager::from_config(
            config,
            self.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(self.pool_size)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StateError::Engine(format!("cannot make the database pool: {e}")))
    }
}

/// `%2F` and the like, as a URL carries a path.
fn percent_decode(v: &str) -> String {
    percent_encoding::percent_decode_str(v)
        .decode_utf8_lossy()
        .into_owned()
}

/// Why the pool gave no connection, in one line.
pub fn pool_error(e: deadpool_postgres::PoolError) -> StateError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => super::sql::db_error(e),
        PoolError::Timeout(_) => StateError::Unreachable(
            "cannot reach the database ([state] url): timed out waiting for a connection".into(),
        ),
        e => StateError::Engine(format!("cannot reach the database ([state] url): {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_ssl_keys_are_read_and_the_rest_handed_on() {
        let t = Target::parse(
            "postgres://a:b%40c@db:6432/x?sslmode=verify-full&connect_timeout=3",
            4,
        )
        .unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.config.get_password(), Some(&b"b@c"[..]));
        assert_eq!(t.config.get_dbname(), Some("x"));
        let t = Target::parse("postgres://db/x?sslmode=disable", 4).unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        let e = Target::parse(
            "postgres://db/x?sslrootcert=/nonexistent/ca.pem&sslmode=verify-ca",
            4,
        );
        assert!(e.err().unwrap().to_string().contains("state.url"));
        let e = Target::parse("postgres://db/x?bogus=1", 4);
        assert!(e.err().unwrap().to_string().contains("state.url"));
    }
}
