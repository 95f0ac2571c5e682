//! recording-archiver: receives live-streaming platforms' recording callbacks and
//! archives every announced file into storage the team owns.

pub mod auth;
pub mod background;
pub mod backlog;
pub mod body;
pub mod bucket_sweep;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod hls;
pub mod http;
pub mod id;
pub mod janitor;
pub mod local;
pub mod manifest;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod providers;
pub mod queue;
pub mod rejected;
pub mod retention;
pub mod retry;
pub mod s3client;
pub mod source;
pub mod state;
pub mod store;
pub mod stream;
pub mod time;
pub mod upload;
pub mod worker;
