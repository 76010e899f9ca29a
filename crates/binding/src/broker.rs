//! `TestBroker`: the embedded development/test broker (NOT for production).

use napi_derive::napi;

use crate::error::{Result, not_implemented};

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
}

#[napi]
impl TestBroker {
    #[napi(factory, catch_unwind)]
    pub async fn start(options: Option<TestBrokerOptions>) -> Result<TestBroker> {
        let _ = options;
        Err(not_implemented("TestBroker.start"))
    }

    /// The bound host:port.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.address.clone()
    }

    #[napi(catch_unwind)]
    pub async fn stop(&self) -> Result<()> {
        Err(not_implemented("TestBroker.stop"))
    }
}
