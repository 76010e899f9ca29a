//! A TypeScript sink as a [`SinkDriver`]: `consume(batch)` resolving = stored (minus the
//! messages it rejected), rejecting = the batch is retried with the engine's backoff.

use std::time::Duration;

use super::{ConnectorCall, SharedHost, next_instance};
use crate::driver::{ConsumeFailure, SinkBatch, SinkDriver, SinkInput};
use crate::error::EngineError;
use crate::ffi::sink::Rejection;

pub struct ExternalSink {
    host: SharedHost,
    key: String,
    module: String,
    instance: u32,
}

impl ExternalSink {
    pub fn new(host: SharedHost, key: &str, module: &str) -> Self {
        Self {
            host,
            key: key.to_owned(),
            module: module.to_owned(),
            instance: next_instance(),
        }
    }
}

#[async_trait::async_trait]
impl SinkDriver for ExternalSink {
    fn describe(&self) -> String {
        format!(
            "TypeScript module {}, instance {}",
            self.module, self.instance
        )
    }

    fn input(&self) -> SinkInput {
        SinkInput::Messages
    }

    async fn open(&self, config_json: &str) -> Result<(), EngineError> {
        self.host
            .call(ConnectorCall::Open {
                kind: "sink",
                key: self.key.clone(),
                instance: self.instance,
                module: self.module.clone(),
                config_json: config_json.to_owned(),
                state: None,
            })
            .await
            .map(|_| ())
            .map_err(|message| EngineError::Config {
                key: self.key.clone(),
                message: format!(
                    "open() of TypeScript sink {} failed: {message}",
                    self.module
                ),
            })
    }

    async fn consume(&self, batch: &mut SinkBatch) -> Result<Vec<Rejection>, ConsumeFailure> {
        let SinkBatch::Messages(batch) = batch else {
            return Err(ConsumeFailure::Fatal(
                "a TypeScript sink was handed a postcard batch".to_owned(),
            ));
        };
        // Cloned: a rejected promise retries the same batch.
        let reply = self
            .host
            .call(ConnectorCall::Consume {
                key: self.key.clone(),
                instance: self.instance,
                stream: batch.stream.clone(),
                topic: batch.topic.clone(),
                partition: batch.partition,
                messages: batch.messages.clone(),
            })
            .await
            .map_err(|message| ConsumeFailure::Retry(format!("consume() failed: {message}")))?;
        Ok(reply.rejections)
    }

    async fn close(&self, timeout: Duration) -> Result<(), String> {
        let closed = tokio::time::timeout(
            timeout,
            self.host.call(ConnectorCall::Close {
                kind: "sink",
                key: self.key.clone(),
                instance: self.instance,
            }),
        )
        .await;
        match closed {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(message)) => Err(format!("close() failed: {message}")),
            Err(_) => Err(format!("close() did not return within {timeout:?}")),
        }
    }
}
