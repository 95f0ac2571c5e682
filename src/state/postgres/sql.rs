//! What every repository of the PostgreSQL engine shares: errors told in
//! one line, cached statements, and the columns records map to.

use deadpool_postgres::GenericClient;
use serde::de::DeserializeOwned;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use crate::queue::{JobState, Lane};
use crate::state::StateError;

/// A failure inside a transaction: the database's, or a record's.
#[derive(Debug)]
pub enum E {
    Db(tokio_postgres::Error),
    State(StateError),
}

impl From<tokio_postgres::Error> for E {
    fn from(e: tokio_postgres::Error) -> Self {
        E::Db(e)
    }
}

impl From<StateError> for E {
    fn from(e: StateError) -> Self {
        E::State(e)
    }
}

impl From<E> for StateError {
    fn from(e: E) -> Self {
        match e {
            E::Db(e) => db_error(e),
            E::State(e) => e,
        }
    }
}

impl E {
    /// The database aborted the transaction for a conflict with another:
    /// running it again may succeed.
    pub fn is_conflict(&self) -> bool {
        let E::Db(e) = self else { return false };
        e.code().is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::UNIQUE_VIOLATION
        })
    }
}

/// A database error in one line: the server's message and code, or why it
/// could not be reached.
pub fn db_error(e: tokio_postgres::Error) -> StateError {
    if let Some(db) = e.as_db_error() {
        let starting = *db.code() == SqlState::CANNOT_CONNECT_NOW;
        let refused = if starting {
            StateError::Unreachable
        } else {
            StateError::Engine
        };
        return refused(format!(
            "the database refused: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        ));
    }
    let mut cause = e.to_string();
    let mut transient = false;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            transient = matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | NotConnected
                    | UnexpectedEof
                    | BrokenPipe
            );
        }
        source = s.source();
    }
    let message = format!("cannot reach the database ([state] url): {cause}");
    match transient || e.is_closed() {
        true => StateError::Unreachable(message),
        false => StateError::Engine(message),
    }
}

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Rows of a cached statement.
pub async fn rows(c: &impl GenericClient, sql: &str, p: Params<'_>) -> Result<Vec<Row>, E> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

/// At most one row of a cached statement.
pub async fn opt(c: &impl GenericClient, sql: &str, p: Params<'_>) -> Result<Option<Row>, E> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

/// Runs a cached statement; the rows it changed.
pub async fn exec(c: &impl GenericClient, sql: &str, p: Params<'_>) -> Result<u64, E> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

/// Column `i` of `row`, a JSON record of `table`.
pub fn record<T: DeserializeOwned>(row: &Row, i: usize, table: &'static str) -> Result<T, E> {
    let v: serde_json::Value = row.try_get(i).map_err(E::Db)?;
    serde_json::from_value(v).map_err(|e| {
        E::State(StateError::Corrupt {
            tree: table,
            message: e.to_string(),
        })
    })
}

/// A record as its JSON column.
pub fn json<T: serde::Serialize>(v: &T) -> Json<serde_json::Value> {
    Json(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
}

pub fn lane(l: Lane) -> i16 {
    match l {
        Lane::Files => 0,
        Lane::Notifications => 1,
    }
}

pub fn state(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Retrying => "retrying",
        JobState::Failed => "failed",
        JobState::Done => "done",
        JobState::Dismissed => "dismissed",
    }
}

/// The state a column holds.
pub fn state_of(s: &str) -> Option<JobState> {
    JobState::ALL.into_iter().find(|x| state(*x) == s)
}

/// Runs `f` over a connection from `repo`'s pool (a read).
macro_rules! read {
    ($repo:expr, |$c:ident| $body:expr) => {{
        let $c = $repo.client().await?;
        let r: Result<_, $crate::state::postgres::sql::E> = async { $body }.await;
        r.map_err($crate::state::StateError::from)
    }};
}
pub(crate) use read;
