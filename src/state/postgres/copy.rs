//! Copying an embedded state into an empty database.
pub enum Record {}
