//! A minimal connection pool: up to `max_connections` clients, idle ones reused, dead ones
//! (server restarted, network cut) dropped and replaced on the next checkout. Every session is
//! pinned to UTC, ISO dates and standard-conforming strings, because the plugins format
//! timestamps and quote literals and must not depend on server defaults.

use std::ops::Deref;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, Config};

use crate::tls::{connector, split_tls_options};

const SESSION_SETUP: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
     SET IntervalStyle = 'postgres'; SET standard_conforming_strings = on; \
     SET extra_float_digits = 3";

pub struct Pool {
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
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
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.retain(|client| !client.is_closed());
            idle.pop()
        };
        let client = match reused {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(PooledClient {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("PostgreSQL connection ended: {error}");
            }
        });
        client.batch_execute(SESSION_SETUP).await?;
        Ok(client)
    }

    /// Drops every idle client (used by `close`).
    pub fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A checked-out client; returned to the pool on drop unless its connection died.
pub struct PooledClient<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Deref for PooledClient<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("client present until drop")
    }
}

impl Drop for PooledClient<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
        {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(client);
        }
    }
}
