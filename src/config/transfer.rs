//! `[transfer]`: the worker pool and its retry policy.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// `[transfer]`: the worker pool and its retry policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferConfig {
    /// Concurrent transfers; 0 = receive and queue only (no transfers here).
    pub workers: usize,
    /// Multipart part size in bytes (raised to ceil(size / 10000) for huge files).
    pub part_size: u64,
    /// Parts in memory at once per transfer (the one being filled included):
    /// memory per transfer is about parts_in_flight * part_size.
    pub parts_in_flight: usize,
    /// Attempts before a job is `failed`.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, with jitter.
    pub retry_initial_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// Timeout for connecting and for each read of a download or request of an upload.
    pub request_timeout_secs: u64,
    /// A running job's lease; refreshed while it runs, taken over when it lapses.
    pub lease_secs: u64,
    /// A 404 counts as "not visible yet" (retried) within this many attempts.
    pub not_found_attempts: u32,
    /// On SIGTERM/SIGINT, running transfers get this long to finish before
    /// they are interrupted (jobs queued again, their uploads kept to be continued).
    pub shutdown_grace_secs: u64,
    /// Parts of a file of known size are streamed (aws-chunked, CRC32C
    /// trailer) rather than held whole: memory no longer grows with
    /// part_size. Off (the default): each part is buffered, then sent with
    /// its checksum header, which measured faster against Garage (BENCHMARKS.md).
    pub stream_parts: bool,
    /// The largest file archived (default and most for S3: 5 TiB). A larger
    /// announced size fails the job before anything is buffered.
    pub max_file_bytes: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            workers: 4,
            part_size: 8 * 1024 * 1024,
            parts_in_flight: 2,
            max_attempts: 12,
            retry_initial_secs: 5,
            retry_max_secs: 1800,
            request_timeout_secs: 60,
            lease_secs: 60,
            not_found_attempts: 3,
            shutdown_grace_secs: 20,
            max_file_bytes: 5 << 40,
            stream_parts: false,
        }
    }
}

impl TransferConfig {
    /// Checks that nothing that counts or waits is zero, and that parts fit S3.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("transfer.parts_in_flight", self.parts_in_flight as u64),
            ("transfer.max_attempts", u64::from(self.max_attempts)),
            ("transfer.retry_initial_secs", self.retry_initial_secs),
            ("transfer.request_timeout_secs", self.request_timeout_secs),
            ("transfer.lease_secs", self.lease_secs),
            ("transfer.max_file_bytes", self.max_file_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.part_size < 5 * 1024 * 1024 || self.part_size > 5 * 1024 * 1024 * 1024 {
            return Err(invalid(
                "transfer.part_size",
                "must be between 5 MiB and 5 GiB (S3's limits for a part)",
            ));
        }
        if self.retry_max_secs < self.retry_initial_secs {
            return Err(invalid(
                "transfer.retry_max_secs",
                "must not be below retry_initial_secs",
            ));
        }
        Ok(())
    }
}
