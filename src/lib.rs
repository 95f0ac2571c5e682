//! recording-archiver: receives live-streaming platforms' recording callbacks and
//! archives every announced file into storage the team owns.

pub mod body;
pub mod cli;
pub mod config;
pub mod db;
pub mod event;
pub mod http;
pub mod providers;
pub mod queue;
pub mod rejected;
pub mod stream;
pub mod time;
