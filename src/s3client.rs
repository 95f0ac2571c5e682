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
