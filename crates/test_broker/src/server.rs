//! TCP listener and per-connection loop.

use crate::dispatch::{self, Session, Shared};
use crate::frame::{self, ReadOutcome};
use crate::persist::Persist;
use crate::state::State;
use crate::{BrokerConfig, BrokerError};
use bytes::BytesMut;
use iggy_common::IggyError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A running embedded broker. Dropping the handle stops accepting and closes connections in
/// the background; [`BrokerHandle::shutdown`] does the same and waits, then flushes data.
pub struct BrokerHandle {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl BrokerHandle {
    /// Binds `config.address`, restores `config.data_dir` if set, and serves on the current
    /// tokio runtime.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BrokerError::NoRuntime);
        }
        let mut state = State::new(config.username, config.password, config.max_bytes);
        if let Some(dir) = &config.data_dir {
            let data_dir_err = |source| BrokerError::DataDir {
                path: dir.clone(),
                source,
            };
            let (persist, snapshot) = Persist::open(dir).map_err(data_dir_err)?;
            let state_path = persist.state_path();
            state.persist = Some(persist);
            match snapshot {
                Some(Ok(snapshot)) => state.restore(snapshot).map_err(data_dir_err)?,
                Some(Err(message)) => {
                    return Err(BrokerError::CorruptState {
                        path: state_path,
                        message,
                    });
                }
                None => {}
            }
        }
        let listener =
            TcpListener::bind(&config.address)
                .await
                .map_err(|source| BrokerError::Bind {
                    address: config.address.clone(),
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| BrokerError::Bind {
            address: config.address.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            local_addr: address,
        });
        let (stop, stopped) = watch::channel(false);
        let revocations = Revocations {
            timeout: config.rebalancing_timeout,
            check_interval: config.rebalancing_check_interval,
        };
        let task = tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            stopped,
            config.max_frame_bytes,
            revocations,
        ));
        tracing::info!("iggy test broker listening on {address}");
        Ok(BrokerHandle {
            address,
            stop,
            task: Some(task),
            shared,
        })
    }

    /// The bound address (with the real port when started on port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes every connection and flushes persisted data.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let mut state = self.shared.lock();
        state.save();
        if let Some(persist) = state.persist.as_mut() {
            persist.sync_all();
        }
    }
}

/// The server's periodic revocation-timeout check.
struct Revocations {
    timeout: Duration,
    check_interval: Duration,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    max_frame_bytes: u32,
    revocations: Revocations,
) {
    // Connections live in the set so that leaving this function (shutdown) aborts them all.
    let mut connections = JoinSet::new();
    let mut check = tokio::time::interval(revocations.check_interval.max(Duration::from_millis(1)));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = check.tick() => {
                let moved = shared.lock().expire_revocations(revocations.timeout);
                if moved > 0 {
                    tracing::info!("test broker: force-completed {moved} timed-out partition revocation(s)");
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let shared = shared.clone();
                    connections.spawn(serve(socket, peer, shared, max_frame_bytes));
                }
                Err(error) => {
                    tracing::warn!("test broker: accept failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
    }
    connections.shutdown().await;
    // Aborted connection tasks never ran their cleanup; drop their sessions here.
    let mut state = shared.lock();
    let ids: Vec<u32> = state.clients.keys().copied().collect();
    for id in ids {
        state.remove_client(id);
    }
}

/// Removes the client from the broker (and its groups) however the connection task ends.
struct ClientGuard {
    shared: Arc<Shared>,
    client_id: u32,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.shared.lock().remove_client(self.client_id);
    }
}

async fn serve(socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>, max_frame_bytes: u32) {
    let _ = socket.set_nodelay(true);
    let client_id = shared.lock().add_client(peer);
    let _guard = ClientGuard {
        shared: shared.clone(),
        client_id,
    };
    let mut session = Session {
        client_id,
        address: peer,
        authenticated: false,
    };
    let (read_half, mut write_half) = socket.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut payload = Vec::new();
    let mut out = BytesMut::with_capacity(64 * 1024);
    loop {
        let code = match frame::read_request(&mut reader, &mut payload, max_frame_bytes).await {
            Ok(ReadOutcome::Request { code }) => code,
            Ok(ReadOutcome::Closed) => break,
            Ok(ReadOutcome::BadLength(length)) => {
                tracing::debug!(
                    "test broker: client {} sent a frame of declared length {length}; closing",
                    session.address
                );
                let status = if length < 4 {
                    IggyError::InvalidCommand.as_code()
                } else {
                    IggyError::CommandLengthError(String::new()).as_code()
                };
                frame::write_error(&mut out, status);
                let _ = write_half.write_all(&out).await;
                break;
            }
            Err(_) => break,
        };
        frame::begin(&mut out);
        match dispatch::handle(&shared, &mut session, code, &mut payload, &mut out) {
            Ok(()) => frame::finish_ok(&mut out),
            Err(error) => {
                tracing::debug!("test broker: command {code} failed: {error}");
                frame::write_error(&mut out, error.as_code());
            }
        }
        if write_half.write_all(&out).await.is_err() {
            break;
        }
        // Large poll responses should not pin memory for the life of the connection.
        if out.capacity() > 4 * 1024 * 1024 {
            out = BytesMut::with_capacity(64 * 1024);
        }
        if payload.capacity() > 4 * 1024 * 1024 {
            payload = Vec::new();
        }
    }
}
