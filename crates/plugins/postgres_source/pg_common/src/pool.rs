//! A minimal connection pool: up to `max_connections` clients, idle ones reused, dead ones
//! (server restarted, network cut) dropped and replaced on the next checkout. Every session is
//! pinned to UTC, ISO dates and standard-conforming strings, because the plugins format
//! timestamps and quote literals and must not depend on server defaults.
//!
//! Dropping a client does not end its server session at once: a query still running (a poll
//! cancelled by shutdown) keeps its backend busy, and with it any replication slot or lock it
//! holds, until the query finishes. [`Pool::shutdown`] therefore cancels what is running and
//! waits until every session the pool opened is gone from `pg_stat_activity`.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{CancelToken, Client, Config};

use crate::tls::{connector, split_tls_options};

const SESSION_SETUP: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
     SET IntervalStyle = 'postgres'; SET standard_conforming_strings = on; \
     SET extra_float_digits = 3";

pub struct Pool {
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    idle: Mutex<Vec<Session>>,
    /// Backend PID → cancel token of every session this pool opened and has not seen die.
    sessions: Mutex<HashMap<i32, CancelToken>>,
    permits: Semaphore,
}

/// A client and its server backend's PID.
struct Session {
    pid: i32,
    client: Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Parses the URL or key=value connection string (libpq `sslmode` values, `sslrootcert`).
    /// Nothing connects until [`Pool::get`]. The error never contains the connection string,
    /// so it is safe to log.
    pub fn new(connection_string: &str, max_connections: u32) -> Result<Self, String> {
        let (connection_string, tls_options) = split_tls_options(connection_string);
        let mut config: Config = connection_string
            .parse()
            .map_err(|e: tokio_postgres::Error| e.to_string())?;
        let tls = connector(&tls_options)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("iggy-connectors");
        }
        Ok(Self {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            permits: Semaphore::new(max_connections.max(1) as usize),
        })
    }

    /// Checks out a live client, connecting a new one when no idle client is alive.
    pub async fn get(&self) -> Result<PooledClient<'_>, tokio_postgres::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("pool semaphore is never closed");
        let reused = {
            let mut idle = lock(&self.idle);
            let (alive, dead): (Vec<Session>, Vec<Session>) =
                idle.drain(..).partition(|s| !s.client.is_closed());
            *idle = alive;
            self.forget(dead.iter().map(|s| s.pid));
            idle.pop()
        };
        let session = match reused {
            Some(session) => session,
            None => self.connect().await?,
        };
        Ok(PooledClient {
            session: Some(session),
            pool: self,
            _permit: permit,
        })
    }

    fn forget(&self, pids: impl Iterator<Item = i32>) {
        let mut sessions = lock(&self.sessions);
        for pid in pids {
            sessions.remove(&pid);
        }
    }

    async fn connect(&self) -> Result<Session, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("PostgreSQL connection ended: {error}");
            }
        });
        client.batch_execute(SESSION_SETUP).await?;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        lock(&self.sessions).insert(pid, client.cancel_token());
        Ok(Session { pid, client })
    }

    /// Drops every idle client without waiting for their server sessions to end.
    pub fn close(&self) {
        lock(&self.idle).clear();
    }

    /// Ends every session this pool opened and waits, at most `timeout`, until the server has
    /// let them go (so a replication slot or lock they held is free when this returns).
    /// Queries still running on checked-out or abandoned clients are cancelled first. Returns
    /// the PIDs still alive at the deadline.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), String> {
        // Dropping the clients sends Terminate, which a busy backend reads only after its
        // query; the cancel requests end those queries now (an idle backend ignores them).
        lock(&self.idle).clear();
        let sessions: HashMap<i32, CancelToken> = std::mem::take(&mut *lock(&self.sessions));
        if sessions.is_empty() {
            return Ok(());
        }
        for (pid, token) in &sessions {
            if let Err(error) = token.cancel_query(self.tls.clone()).await {
                tracing::debug!("cancelling the query of PostgreSQL backend {pid}: {error}");
            }
        }
        let pids: Vec<i32> = sessions.keys().copied().collect();
        let (client, connection) =
            self.config.connect(self.tls.clone()).await.map_err(|e| {
                format!("cannot connect to check that sessions {pids:?} ended: {e}")
            })?;
        let driver = tokio::spawn(connection);
        let deadline = Instant::now() + timeout;
        let result = loop {
            let alive: Vec<i32> = match client
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)",
                    &[&pids],
                )
                .await
            {
                Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
                Err(error) => break Err(format!("reading pg_stat_activity: {error}")),
            };
            if alive.is_empty() {
                break Ok(());
            }
            if Instant::now() >= deadline {
                break Err(format!(
                    "PostgreSQL backend(s) {alive:?} of this connector still running after {}",
                    humantime::format_duration(timeout)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(client);
        let _ = driver.await;
        result
    }
}

/// A checked-out client; returned to the pool on drop unless its connection died.
pub struct PooledClient<'a> {
    session: Option<Session>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Deref for PooledClient<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self
            .session
            .as_ref()
            .expect("client present until drop")
            .client
    }
}

impl Drop for PooledClient<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if session.client.is_closed() {
            self.pool.forget(std::iter::once(session.pid));
        } else {
            lock(&self.pool.idle).push(session);
        }
    }
}
