//! The one S3 client builder, shared by the S3 store and S3-protocol
//! sources, so both talk to S3 with the same retry, timeout and checksum
//! settings.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::Client;

/// Builds an S3 client with our retry layer in charge: the SDK's own retries
/// are off so every attempt is counted once.
pub async fn client(
    endpoint: Option<&str>,
    region: &str,
    force_path_style: bool,
    access_key_id: Option<&str>,
    secret_access_key: &str,
    timeout: Duration,
) -> Client {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if let Some(ak) = access_key_id {
        loader = loader.credentials_provider(Credentials::new(
            ak,
            secret_access_key,
            None,
            None,
            "recording-archiver config",
        ));
    }
    let sdk = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(force_path_style)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout)
                .read_timeout(timeout)
                .build(),
        )
        // The store sends its own per-part CRC32C; no second, SDK-chosen checksum.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(ep) = endpoint {
        b = b.endpoint_url(ep);
    }
    Client::from_conf(b.build())
}

/// How long a request whose work is all server-side may take to answer:
/// CompleteMultipartUpload of a large object takes minutes on
/// some servers, silent until done, and are not to be cut off by the
/// per-read timeout meant for stalled transfers.
pub const SERVER_SIDE_WORK: Duration = Duration::from_secs(15 * 60);

/// A per-request override giving such a request [`SERVER_SIDE_WORK`].
pub fn server_side_work() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new().timeout_config(
        TimeoutConfig::builder()
            .read_timeout(SERVER_SIDE_WORK)
            .build(),
    )
}
