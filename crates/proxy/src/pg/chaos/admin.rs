//! The admin side of chaos: connections to the upstream as a privileged role (from
//! `--admin-url`), used by the database-side actions to change the schema or roles and to put
//! them back. One shared connection serves the short statements; `lock_table` opens a
//! dedicated one, since it holds a transaction open.
//!
//! Every admin session runs with `lock_timeout` (so an action that cannot get its lock fails
//! instead of hanging) and a `statement_timeout`, and names itself in `application_name` so it
//! is recognisable in `pg_stat_activity`.

use std::str::FromStr;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, Config, NoTls};
use tokio_util::task::TaskTracker;

use super::error::ChaosError;

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on any one admin statement (schema changes on big tables can be slow).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// `application_name` of the shared admin connection.
pub(crate) const APP_NAME: &str = "shakedown-chaos";

/// Quotes an identifier for SQL: `"name"`, inner quotes doubled. Names from scripts and
/// sessions only ever reach SQL through this (or as bound parameters).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Connections to the upstream as the admin role.
pub(crate) struct Admin {
    config: Config,
    lock_timeout: Duration,
    shared: Mutex<Option<Client>>,
    /// Tracks the connection futures, so shutdown can wait for them to close.
    conns: TaskTracker,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the password: show only where it points.
        f.debug_struct("Admin")
            .field("hosts", &self.config.get_hosts())
            .field("user", &self.config.get_user())
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// The shared admin connection, held for the duration of one step.
pub(crate) type AdminConn<'a> = MutexGuard<'a, Option<Client>>;

impl Admin {
    /// Parses `url` (URL or key-value form); nothing is connected yet.
    pub(crate) fn new(
        url: &str,
        lock_timeout: Duration,
        conns: TaskTracker,
    ) -> Result<Self, ChaosError> {
        let mut config = Config::from_str(url).map_err(|e| ChaosError::AdminUrl(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Self {
            config,
            lock_timeout,
            shared: Mutex::new(None),
            conns,
        })
    }

    /// A new connection of its own, named `app`, with the admin settings applied.
    pub(crate) async fn connect(&self, app: &str) -> Result<Client, ChaosError> {
        let mut config = self.config.clone();
        config.application_name(app);
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| ChaosError::Connect(ChaosError::sql("connect", &e).to_string()))?;
        self.conns.spawn(async move {
            // Ends when the client is dropped or the server goes away; errors surface on the
            // client's next statement.
            let _ = connection.await;
        });
        let settings = format!(
            "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; \
             SET idle_in_transaction_session_timeout = 0",
            self.lock_timeout.as_millis(),
            STATEMENT_TIMEOUT.as_millis()
        );
        client
            .batch_execute(&settings)
            .await
            .map_err(|e| ChaosError::sql("configuring the admin session", &e))?;
        Ok(client)
    }

    /// The shared connection, (re)connected if needed. Holding the guard serialises admin
    /// steps, which keeps a schema change and its bookkeeping query together.
    pub(crate) async fn shared(&self) -> Result<AdminConn<'_>, ChaosError> {
        let mut guard = self.shared.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect(APP_NAME).await?);
        }
        Ok(guard)
    }

    /// Closes the shared connection (its task then ends).
    pub(crate) async fn close(&self) {
        self.shared.lock().await.take();
    }
}

/// The client inside a guard from [`Admin::shared`] (always connected there).
pub(crate) fn client<'a>(conn: &'a AdminConn<'_>) -> Result<&'a Client, ChaosError> {
    conn.as_ref()
        .ok_or_else(|| ChaosError::Connect("admin connection closed".into()))
}

/// Runs one utility statement, mapping the error with the statement as context.
pub(crate) async fn execute(client: &Client, sql: &str) -> Result<(), ChaosError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| ChaosError::sql(sql, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("email"), "\"email\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_ident("a; DROP TABLE x"), "\"a; DROP TABLE x\"");
    }

    #[test]
    fn bad_urls_are_refused_and_passwords_not_shown() {
        let tracker = TaskTracker::new();
        assert!(matches!(
            Admin::new(
                "postgres://u@h:notaport/db",
                Duration::from_secs(1),
                tracker.clone()
            ),
            Err(ChaosError::AdminUrl(_))
        ));
        let a = Admin::new(
            "postgres://admin:secret@127.0.0.1:5432/db",
            Duration::from_secs(1),
            tracker,
        )
        .unwrap();
        assert!(!format!("{a:?}").contains("secret"));
    }
}
