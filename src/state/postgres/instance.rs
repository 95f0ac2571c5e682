//! One process per `instance_id` on a database: the id owns its running
//! jobs (a restart queues them again at once) and its manifests, so a
//! second process under the same id would take the first one's work. The
//! id is held as a session advisory lock on a connection of its own for the
//! life of the process; a database restart ends the session, and the lock
//! is taken again with the next connection.

use std::time::Duration;

use super::conn::Target;
use super::sql::db_error;
use crate::state::StateError;

/// The lock naming `instance` (a key in the same space as the schema's).
fn key_sql() -> &'static str {
    "SELECT pg_try_advisory_lock(hashtextextended('recording-archiver instance ' || $1, 0))"
}

/// Takes `instance`'s lock, waiting a little for a killed process's session
/// to end, and holds it for the life of the runtime.
pub async fn hold(target: &Target, instance: &str) -> Result<(), StateError> {
    let mut waited = Duration::ZERO;
    let (client, connection) = loop {
        let (client, connection) = connect(target).await?;
        let driver = tokio::spawn(connection);
        if take(&client, instance).await? {
            break (client, driver);
        }
        driver.abort();
        // A process killed a moment ago: its session ends when the server
        // sees its socket close.
        if waited >= Duration::from_secs(15) {
            return Err(StateError::Engine(format!(
                "another running daemon uses instance_id = {instance:?} on this database \
                 ([state] url): give each instance its own instance_id"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        waited += Duration::from_millis(500);
    };
    let (target, instance) = (target.clone(), instance.to_owned());
    tokio::spawn(async move {
        let (mut client, mut connection) = (client, connection);
        loop {
            let _ = (&mut connection).await;
            drop(client);
            // The session ended (the database restarted): take it again.
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let Ok((c, conn)) = connect(&target).await else {
                    continue;
                };
                let driver = tokio::spawn(conn);
                match take(&c, &instance).await {
                    Ok(true) => {
                        (client, connection) = (c, driver);
                        break;
                    }
                    Ok(false) => tracing::error!(
                        instance_id = %instance,
                        "another running daemon took this instance_id on the database"
                    ),
                    Err(_) => {}
                }
                driver.abort();
            }
        }
    });
    Ok(())
}

type Connection = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn connect(target: &Target) -> Result<(tokio_postgres::Client, Connection), StateError> {
    let mut config = target.config.clone();
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(target.tls.clone()).await.map_err(db_error)?;
    Ok((
        client,
        Box::pin(async move {
            let _ = connection.await;
        }),
    ))
}

async fn take(client: &tokio_postgres::Client, instance: &str) -> Result<bool, StateError> {
    let row = client
        .query_one(key_sql(), &[&instance])
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}
