//! `TestBroker`: the embedded development/test broker (NOT for production).

use std::path::PathBuf;

use iggy_test_broker::{BrokerConfig, BrokerHandle};
use napi_derive::napi;

use crate::error::{NapiResultExt, Result};

#[napi(object)]
pub struct TestBrokerOptions {
    /// Default 127.0.0.1:0 (random port).
    pub address: Option<String>,
    /// Default: in memory only.
    pub data_dir: Option<String>,
    /// Cap on stored message bytes.
    pub max_bytes: Option<f64>,
}

/// The embedded development/test broker (NOT for production).
#[napi]
pub struct TestBroker {
    address: String,
    handle: tokio::sync::Mutex<Option<BrokerHandle>>,
}

#[napi]
impl TestBroker {
    #[napi(factory, catch_unwind)]
    pub async fn start(options: Option<TestBrokerOptions>) -> Result<TestBroker> {
        let mut config = BrokerConfig::default();
        if let Some(options) = options {
            if let Some(address) = options.address {
                config.address = address;
            }
            config.data_dir = options.data_dir.map(PathBuf::from);
            if let Some(max) = options.max_bytes {
                config.max_bytes = Some(max.max(0.0) as u64);
            }
        }
        let handle = BrokerHandle::start(config).await.default_error()?;
        Ok(TestBroker {
            address: handle.address().to_string(),
            handle: tokio::sync::Mutex::new(Some(handle)),
        })
    }

    /// The bound host:port.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Stops the broker; a second call does nothing.
    #[napi(catch_unwind)]
    pub async fn stop(&self) -> Result<()> {
        if let Some(handle) = self.handle.lock().await.take() {
            handle.shutdown().await;
        }
        Ok(())
    }
}
