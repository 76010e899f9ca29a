//! The host of connectors written in TypeScript: the engine's [`ConnectorHost`] calls become
//! one threadsafe function call each (`JsConnectorCall` → `Promise<JsConnectorReply>`); the
//! TypeScript side dispatches them to the registered source or sink by key.

use iggy_connectors_engine::{ConnectorCall, ConnectorHost, ConnectorReply, Rejection};
use napi::bindgen_prelude::{Buffer, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::connector_batch::{messages_from_js, sink_batch_to_js};
use crate::js_batch::{BatchColumns, BatchResultColumns};

/// One call on a TypeScript connector.
#[napi(object)]
pub struct JsConnectorCall {
    /// open | poll | ack | nack | consume | close
    pub op: String,
    /// source | sink
    pub kind: String,
    pub key: String,
    /// A fresh number on every (re)start of the connector.
    pub instance: u32,
    /// open: the module as written in the connector file (or the registered name).
    pub module: Option<String>,
    /// open: `[plugin_config]` as JSON text ("null" when absent).
    pub config_json: Option<String>,
    /// open (sources): the saved state bytes.
    pub state: Option<Buffer>,
    /// consume: where the batch comes from.
    pub stream: Option<String>,
    pub topic: Option<String>,
    pub partition: Option<u32>,
    /// consume: the batch, in columns (`Batch` in `ts/batch.ts` reads it).
    pub batch: Option<BatchColumns>,
}

/// A message a sink refused for its content: it goes to the dead-letter path.
#[napi(object)]
pub struct JsRejection {
    pub offset: f64,
    pub reason: String,
}

/// The answer to a [`JsConnectorCall`].
#[napi(object)]
pub struct JsConnectorReply {
    /// poll: the produced messages, in columns (`BatchResultBuilder.add` in `ts/batch.ts`).
    pub columns: Option<BatchResultColumns>,
    /// poll: the source's state after these messages (saved once Iggy acked them).
    pub state: Option<Buffer>,
    /// consume: the messages the sink refused.
    pub rejections: Option<Vec<JsRejection>>,
}

/// Weak (never keeps Node alive); a throwing handler becomes an `Err`.
pub type ConnectorFn = ThreadsafeFunction<
    JsConnectorCall,
    Promise<JsConnectorReply>,
    JsConnectorCall,
    napi::Status,
    false,
    true,
>;

pub struct JsConnectorHost {
    pub handler: ConnectorFn,
}

fn call_object(op: &str, kind: &str, key: String, instance: u32) -> JsConnectorCall {
    JsConnectorCall {
        op: op.to_owned(),
        kind: kind.to_owned(),
        key,
        instance,
        module: None,
        config_json: None,
        state: None,
        stream: None,
        topic: None,
        partition: None,
        batch: None,
    }
}

fn to_js(call: ConnectorCall) -> JsConnectorCall {
    match call {
        ConnectorCall::Open {
            kind,
            key,
            instance,
            module,
            config_json,
            state,
        } => JsConnectorCall {
            module: Some(module),
            config_json: Some(config_json),
            state: state.map(Buffer::from),
            ..call_object("open", kind, key, instance)
        },
        ConnectorCall::Poll { key, instance } => call_object("poll", "source", key, instance),
        ConnectorCall::BatchResult { key, instance, ok } => {
            call_object(if ok { "ack" } else { "nack" }, "source", key, instance)
        }
        ConnectorCall::Consume {
            key,
            instance,
            stream,
            topic,
            partition,
            messages,
        } => JsConnectorCall {
            batch: Some(sink_batch_to_js(
                key.clone(),
                stream.clone(),
                topic.clone(),
                messages,
            )),
            stream: Some(stream),
            topic: Some(topic),
            partition: Some(partition),
            ..call_object("consume", "sink", key, instance)
        },
        ConnectorCall::Close {
            kind,
            key,
            instance,
        } => call_object("close", kind, key, instance),
    }
}

fn from_js(reply: JsConnectorReply) -> Result<ConnectorReply, String> {
    Ok(ConnectorReply {
        messages: match reply.columns {
            Some(columns) => messages_from_js(columns)?,
            None => Vec::new(),
        },
        state: reply.state.map(|b| b.to_vec()),
        rejections: reply
            .rejections
            .unwrap_or_default()
            .into_iter()
            .map(|r| Rejection {
                offset: r.offset.max(0.0) as u64,
                reason: r.reason,
            })
            .collect(),
    })
}

#[async_trait::async_trait]
impl ConnectorHost for JsConnectorHost {
    async fn call(&self, call: ConnectorCall) -> Result<ConnectorReply, String> {
        let promise = self
            .handler
            .call_async_catch(to_js(call))
            .await
            .map_err(|e| e.reason.clone())?;
        let reply = promise.await.map_err(|e| e.reason.clone())?;
        from_js(reply)
    }
}

/// The deterministic id of a message a TypeScript source produces for record `key` within
/// `namespace` (the same derivation as the native sources: a UUIDv8 from xxh3-128, see
/// `crates/plugins/message_id`), as the decimal string `JsMessage.id` takes.
#[napi]
pub fn message_id_from_key(namespace: String, key: String) -> String {
    iggy_connectors_message_id::IdBuilder::new(TS_ID_DOMAIN)
        .part(Some(namespace.as_bytes()))
        .part(Some(key.as_bytes()))
        .finish()
        .to_string()
}

/// The domain of ids derived by [`message_id_from_key`]; versioned, never changed.
pub const TS_ID_DOMAIN: &str = "typescript_source/key/v1";
