//! `[server]`: the HTTP listener and the limits it puts on a request.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU core.
    pub http_workers: usize,
    /// Request headers, names and values together, may not exceed this (431).
    pub max_header_bytes: usize,
    /// Nor may a request carry more headers than this (431).
    pub max_headers: usize,
    /// A client has this long to send a request's head, else 408.
    pub request_timeout_secs: u64,
    /// And this long to send its body, else 408.
    pub body_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this long.
    pub keep_alive_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 65536,
            http_workers: 0,
            max_header_bytes: 8192,
            max_headers: 64,
            request_timeout_secs: 5,
            body_timeout_secs: 10,
            keep_alive_secs: 30,
        }
    }
}

impl ServerConfig {
    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            invalid(
                "server.listen",
                format!("{:?} is not an address:port ({e})", self.listen),
            )
        })
    }

    /// Checks the address and that each limit is one the HTTP stack can keep.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if !(1024..=32768).contains(&self.max_header_bytes) {
            return Err(invalid(
                "server.max_header_bytes",
                "must be between 1024 and 32768 (the HTTP parser's own ceiling)",
            ));
        }
        if !(8..=96).contains(&self.max_headers) {
            return Err(invalid(
                "server.max_headers",
                "must be between 8 and 96 (the HTTP parser's own ceiling)",
            ));
        }
        for (k, v) in [
            ("server.request_timeout_secs", self.request_timeout_secs),
            ("server.body_timeout_secs", self.body_timeout_secs),
        ] {
            if v == 0 {
                return Err(invalid(k, "must be at least 1 second"));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid(
                "server.max_body_bytes",
                "must be at least 1024: platform callbacks are a few hundred bytes to a few KiB",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn limits_out_of_range_are_refused_by_name() {
        for (key, v) in [
            ("MAX_HEADER_BYTES", "100000"),
            ("MAX_HEADERS", "200"),
            ("BODY_TIMEOUT_SECS", "0"),
        ] {
            let env = [(format!("RECORDING_ARCHIVER__SERVER__{key}"), v.to_owned())];
            let e = Config::load_with_env(None, env).unwrap_err().to_string();
            assert!(e.contains(&key.to_ascii_lowercase()), "{key}: {e}");
        }
    }
}
