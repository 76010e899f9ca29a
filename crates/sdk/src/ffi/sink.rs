//! Generic bodies of the sink exports (`iggy_sink_*`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::RwLock;

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::guard::{CatchUnwind, close_outcome, panic_message, report_error, runtime};
use super::{FAILED, INVALID, OK, PluginInfo, RejectCallback, log};
use crate::{
    ConsumeOutcome, ConsumedMessage, MessagesMetadata, Payload, RejectedMessage, Sink,
    TopicMetadata, codecs,
};

/// The instances of one sink type in this library, keyed by host-given id.
pub struct SinkRegistry<T> {
    /// `None` while `open()` runs (the id is reserved).
    instances: Mutex<BTreeMap<u32, Option<Arc<SinkInstance<T>>>>>,
}

struct SinkInstance<T> {
    /// `consume` takes the read side (calls may overlap), `close` the write side, so close
    /// waits for consumes in progress.
    sink: RwLock<T>,
    closed: AtomicBool,
}

impl<T> Default for SinkRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SinkRegistry<T> {
    pub const fn new() -> Self {
        SinkRegistry {
            instances: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, Option<Arc<SinkInstance<T>>>>> {
        self.instances
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: u32) -> Option<Arc<SinkInstance<T>>> {
        self.lock().get(&id).cloned().flatten()
    }
}

fn invalid(plugin: &PluginInfo, id: u32, call: &str, cause: impl std::fmt::Display) -> i32 {
    report_error(
        plugin,
        format!("{} (id {id}): {call}: {cause}", plugin.name),
    );
    INVALID
}

/// `iggy_sink_open`: parse config, construct, `open()`, register.
pub fn open<T: Sink>(
    registry: &SinkRegistry<T>,
    plugin: &'static PluginInfo,
    id: u32,
    config: &[u8],
    construct: impl FnOnce(u32, &[u8]) -> Result<T, String>,
) -> i32 {
    {
        let mut instances = registry.lock();
        if instances.contains_key(&id) {
            return invalid(
                plugin,
                id,
                "iggy_sink_open",
                "id is already open (close it first)",
            );
        }
        instances.insert(id, None);
    }
    // `new` is plugin code: a panic there must not leave the id reserved.
    let constructed = catch_unwind(AssertUnwindSafe(|| construct(id, config)));
    let mut sink = match constructed {
        Ok(Ok(sink)) => sink,
        Ok(Err(cause)) => {
            registry.lock().remove(&id);
            return invalid(plugin, id, "iggy_sink_open", cause);
        }
        Err(panic) => {
            registry.lock().remove(&id);
            report_error(
                plugin,
                format!(
                    "{} (id {id}): iggy_sink_open: new() panicked: {}",
                    plugin.name,
                    panic_message(panic.as_ref())
                ),
            );
            return FAILED;
        }
    };
    let failure = match runtime().block_on(CatchUnwind(sink.open())) {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(format!("open() failed: {error}")),
        Err(panic) => Some(format!("open() panicked: {panic}")),
    };
    if let Some(failure) = failure {
        registry.lock().remove(&id);
        report_error(
            plugin,
            format!("{} (id {id}): iggy_sink_open: {failure}", plugin.name),
        );
        return FAILED;
    }
    let instance = Arc::new(SinkInstance {
        sink: RwLock::new(sink),
        closed: AtomicBool::new(false),
    });
    registry.lock().insert(id, Some(instance));
    log::emit(
        log::INFO,
        plugin.name,
        &format!("{} {} (id {id}): sink opened", plugin.name, plugin.version),
    );
    OK
}

/// Where `consume` reports rejected messages: the `iggy_sink_consume_v2` host's callback, or
/// nowhere (`iggy_sink_consume`, the 0.4.0 ABI).
#[derive(Clone, Copy)]
pub enum Rejections {
    /// 0.4.0 host: it cannot dead-letter, so a batch with rejected messages returns `FAILED`
    /// (after the stored ones were stored) with an error naming the rejected offsets.
    Unsupported,
    Callback(RejectCallback, *mut c_void),
}

impl Rejections {
    fn report(self, rejected: &[RejectedMessage]) {
        if let Rejections::Callback(callback, context) = self {
            for message in rejected {
                callback(
                    context,
                    message.offset,
                    message.reason.as_ptr(),
                    message.reason.len(),
                );
            }
        }
    }
}

/// `iggy_sink_consume` / `iggy_sink_consume_v2`: decode the three postcard buffers, decode
/// payloads with the stream's schema, call `consume()`, report what it (and the payload
/// decode) rejected.
pub fn consume<T: Sink>(
    registry: &SinkRegistry<T>,
    plugin: &'static PluginInfo,
    id: u32,
    buffers: [&[u8]; 3],
    rejections: Rejections,
) -> i32 {
    let [topic, metadata, messages] = buffers;
    let call = match rejections {
        Rejections::Unsupported => "iggy_sink_consume",
        Rejections::Callback(..) => "iggy_sink_consume_v2",
    };
    let Some(instance) = registry.get(id) else {
        return invalid(plugin, id, call, "unknown id (not opened, or closed)");
    };
    let topic: TopicMetadata = match postcard::from_bytes(topic) {
        Ok(topic) => topic,
        Err(error) => return invalid(plugin, id, call, format!("bad TopicMetadata: {error}")),
    };
    let metadata: MessagesMetadata = match postcard::from_bytes(metadata) {
        Ok(metadata) => metadata,
        Err(error) => return invalid(plugin, id, call, format!("bad MessagesMetadata: {error}")),
    };
    let raw: RawMessagesRef<'_> = match postcard::from_bytes(messages) {
        Ok(raw) => raw,
        Err(error) => return invalid(plugin, id, call, format!("bad RawMessages: {error}")),
    };
    let Decoded {
        messages: decoded,
        mut rejected,
    } = decode_messages(&metadata, raw, T::DECODE_PAYLOADS);
    // Nothing left to store once every message was rejected by the decode; an empty batch
    // still reaches `consume`, as with the 0.4.0 SDK.
    let outcome = if decoded.is_empty() && !rejected.is_empty() {
        Some(Ok(Ok(ConsumeOutcome::all_stored())))
    } else {
        runtime().block_on(async {
            let sink = instance.sink.read().await;
            if instance.closed.load(Ordering::Acquire) {
                return None;
            }
            Some(CatchUnwind(sink.consume(&topic, metadata, decoded)).await)
        })
    };
    let place = || {
        format!(
            "{}/{} partition {}",
            topic.stream, topic.topic, metadata.partition_id
        )
    };
    match outcome {
        None => invalid(plugin, id, call, "the sink was closed"),
        Some(Ok(Ok(outcome))) => {
            rejected.extend(outcome.into_rejected());
            if rejected.is_empty() {
                return OK;
            }
            let first = &rejected[0];
            let summary = format!(
                "{} (id {id}): {}: {} message(s) rejected; first: offset {}: {}",
                plugin.name,
                place(),
                rejected.len(),
                first.offset,
                first.reason
            );
            match rejections {
                Rejections::Callback(..) => {
                    log::emit(log::WARN, plugin.name, &summary);
                    rejections.report(&rejected);
                    OK
                }
                Rejections::Unsupported => {
                    report_error(
                        plugin,
                        format!(
                            "{summary}; the host uses the 0.4.0 iggy_sink_consume and cannot dead-letter them, so the batch fails"
                        ),
                    );
                    FAILED
                }
            }
        }
        Some(Ok(Err(error))) => {
            report_error(
                plugin,
                format!(
                    "{} (id {id}): consume() failed for {}: {error}",
                    plugin.name,
                    place()
                ),
            );
            FAILED
        }
        Some(Err(panic)) => {
            report_error(
                plugin,
                format!(
                    "{} (id {id}): {call}: consume() panicked: {panic}",
                    plugin.name
                ),
            );
            FAILED
        }
    }
}

/// [`crate::RawMessages`] borrowing its byte fields from the host's buffer (valid for the
/// call): postcard writes a `Vec<u8>` exactly as it writes `&[u8]`, so the wire format is the
/// same, and no `Vec` is allocated per message before the codec step — JSON and proto
/// payloads are parsed straight from the host's bytes, headers decoded from them.
#[derive(serde::Deserialize)]
struct RawMessagesRef<'a> {
    #[allow(dead_code)] // part of the wire format; `MessagesMetadata::schema` is used
    schema: crate::Schema,
    #[serde(borrow)]
    messages: Vec<RawMessageRef<'a>>,
}

#[derive(serde::Deserialize)]
struct RawMessageRef<'a> {
    id: u128,
    offset: u64,
    checksum: u64,
    timestamp: u64,
    origin_timestamp: u64,
    headers: &'a [u8],
    payload: &'a [u8],
}

/// The messages handed to `consume`, and those whose payload did not decode (rejected with
/// the codec's reason, so the host dead-letters them or fails the batch: never dropped).
struct Decoded {
    messages: Vec<ConsumedMessage>,
    rejected: Vec<RejectedMessage>,
}

/// Decodes the payloads (one copy at most: raw/text/flatbuffer own a copy of the bytes, JSON
/// and proto parse from the borrowed slice). Headers that do not decode are reported as
/// absent (the payload is still delivered). With `decode_payloads` false
/// (`Sink::DECODE_PAYLOADS`) every payload is handed over as `Payload::Raw` without a parse.
fn decode_messages(
    metadata: &MessagesMetadata,
    raw: RawMessagesRef<'_>,
    decode_payloads: bool,
) -> Decoded {
    let mut decoded = Decoded {
        messages: Vec::with_capacity(raw.messages.len()),
        rejected: Vec::new(),
    };
    for message in raw.messages {
        let headers = decode_headers(message.headers).unwrap_or_default();
        let payload = if decode_payloads {
            codecs::decode(metadata.schema, message.payload)
        } else {
            Ok(Payload::Raw(message.payload.to_vec()))
        };
        match payload {
            Ok(payload) => decoded.messages.push(ConsumedMessage {
                id: message.id,
                offset: message.offset,
                checksum: message.checksum,
                timestamp: message.timestamp,
                origin_timestamp: message.origin_timestamp,
                headers,
                payload,
            }),
            Err(error) => decoded.rejected.push(RejectedMessage {
                offset: message.offset,
                reason: format!("undecodable payload: {error}"),
            }),
        }
    }
    decoded
}

/// As [`crate::RawMessage::decode_headers`], from a borrowed buffer; `None` when empty.
fn decode_headers(
    bytes: &[u8],
) -> Result<Option<BTreeMap<crate::HeaderKey, crate::HeaderValue>>, postcard::Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    postcard::from_bytes(bytes).map(Some)
}

/// `iggy_sink_close`: wait for consumes in progress, then `close()`.
pub fn close<T: Sink>(registry: &SinkRegistry<T>, plugin: &'static PluginInfo, id: u32) -> i32 {
    const CALL: &str = "iggy_sink_close";
    let instance = {
        let mut instances = registry.lock();
        match instances.remove(&id) {
            Some(Some(instance)) => instance,
            Some(None) => {
                instances.insert(id, None);
                drop(instances);
                return invalid(plugin, id, CALL, "the sink is still opening");
            }
            None => {
                drop(instances);
                return invalid(
                    plugin,
                    id,
                    CALL,
                    "unknown id (not opened, or already closed)",
                );
            }
        }
    };
    let closed = runtime().block_on(async {
        let mut sink = instance.sink.write().await;
        instance.closed.store(true, Ordering::Release);
        CatchUnwind(sink.close()).await
    });
    close_outcome(plugin, id, CALL, "sink", closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HeaderKey, HeaderValue, RawMessage, RawMessages, Schema};

    const PLUGIN: PluginInfo = PluginInfo {
        name: "test_sink",
        version: "0",
    };

    fn batch(payloads: &[&[u8]]) -> RawMessages {
        RawMessages {
            schema: Schema::Json,
            messages: payloads
                .iter()
                .enumerate()
                .map(|(i, payload)| RawMessage {
                    id: i as u128,
                    offset: 10 + i as u64,
                    checksum: 0,
                    timestamp: 0,
                    origin_timestamp: 0,
                    headers: Vec::new(),
                    payload: payload.to_vec(),
                })
                .collect(),
        }
    }

    fn decode(payloads: &[&[u8]], decode_payloads: bool) -> Decoded {
        let metadata = MessagesMetadata {
            partition_id: 1,
            current_offset: 11,
            schema: Schema::Json,
        };
        let wire = postcard::to_allocvec(&batch(payloads)).unwrap();
        let raw: RawMessagesRef<'_> = postcard::from_bytes(&wire).unwrap();
        decode_messages(&metadata, raw, decode_payloads)
    }

    #[test]
    fn given_decoding_sink_should_parse_json_and_reject_undecodable_payloads() {
        let decoded = decode(&[br#"{"a":1}"#, b"{nope"], true);
        assert_eq!(decoded.messages.len(), 1);
        assert_eq!(decoded.messages[0].offset, 10);
        assert_eq!(
            decoded.messages[0].payload,
            Payload::Json(serde_json::json!({"a": 1}))
        );
        assert_eq!(decoded.rejected.len(), 1);
        assert_eq!(decoded.rejected[0].offset, 11);
        assert!(
            decoded.rejected[0]
                .reason
                .starts_with("undecodable payload: "),
            "{}",
            decoded.rejected[0].reason
        );
    }

    #[test]
    fn given_sink_opting_out_of_decoding_should_get_every_payload_raw_and_untouched() {
        let decoded = decode(&[br#"{"a":1}"#, b"{nope"], false);
        assert!(decoded.rejected.is_empty());
        let payloads: Vec<_> = decoded
            .messages
            .iter()
            .map(|m| (m.offset, &m.payload))
            .collect();
        assert_eq!(
            payloads,
            [
                (10, &Payload::Raw(br#"{"a":1}"#.to_vec())),
                (11, &Payload::Raw(b"{nope".to_vec())),
            ]
        );
    }

    #[test]
    fn given_owned_wire_format_should_decode_borrowed_with_headers_and_fields_intact() {
        let mut headers = BTreeMap::new();
        headers.insert(
            HeaderKey::try_from("k").unwrap(),
            HeaderValue::try_from("v").unwrap(),
        );
        let mut raw = batch(&[br#"{"a":1}"#, b"[2]"]);
        raw.messages[0].headers = postcard::to_allocvec(&headers).unwrap();
        raw.messages[1].checksum = 77;
        raw.messages[1].timestamp = 5;
        raw.messages[1].origin_timestamp = 6;
        let wire = postcard::to_allocvec(&raw).unwrap();
        let borrowed: RawMessagesRef<'_> = postcard::from_bytes(&wire).unwrap();
        assert_eq!(borrowed.messages.len(), 2);
        let second = &borrowed.messages[1];
        assert_eq!(
            (second.id, second.offset, second.checksum, second.timestamp),
            (1, 11, 77, 5)
        );
        assert_eq!(second.origin_timestamp, 6);
        assert_eq!(second.payload, b"[2]");
        assert_eq!(
            decode_headers(borrowed.messages[0].headers).unwrap(),
            Some(headers)
        );
        assert_eq!(decode_headers(second.headers).unwrap(), None);
        assert!(postcard::from_bytes::<RawMessagesRef<'_>>(&wire[..wire.len() - 1]).is_err());
    }

    /// Rejects every message whose JSON payload is the string "bad".
    struct Rejecter;

    impl Sink for Rejecter {
        async fn open(&mut self) -> Result<(), crate::Error> {
            Ok(())
        }

        async fn consume(
            &self,
            _topic: &TopicMetadata,
            _metadata: MessagesMetadata,
            messages: Vec<ConsumedMessage>,
        ) -> Result<ConsumeOutcome, crate::Error> {
            let mut outcome = ConsumeOutcome::all_stored();
            for message in &messages {
                if message.payload == Payload::Json(serde_json::json!("bad")) {
                    outcome.reject(message.offset, "bad value");
                }
            }
            Ok(outcome)
        }

        async fn close(&mut self) -> Result<(), crate::Error> {
            Ok(())
        }
    }

    extern "C" fn collect(context: *mut c_void, offset: u64, ptr: *const u8, len: usize) {
        // SAFETY: the tests pass a `Vec<(u64, String)>` as context and a valid reason.
        let (list, reason) = unsafe {
            (
                &mut *(context as *mut Vec<(u64, String)>),
                std::slice::from_raw_parts(ptr, len),
            )
        };
        list.push((offset, String::from_utf8(reason.to_vec()).unwrap()));
    }

    fn consume_with(
        registry: &SinkRegistry<Rejecter>,
        payloads: &[&[u8]],
        v2: bool,
    ) -> (i32, Vec<(u64, String)>) {
        let topic = postcard::to_allocvec(&TopicMetadata {
            stream: "s".into(),
            topic: "t".into(),
        })
        .unwrap();
        let meta = postcard::to_allocvec(&MessagesMetadata {
            partition_id: 1,
            current_offset: 12,
            schema: Schema::Json,
        })
        .unwrap();
        let messages = postcard::to_allocvec(&batch(payloads)).unwrap();
        let mut rejected: Vec<(u64, String)> = Vec::new();
        let rejections = if v2 {
            Rejections::Callback(collect, (&mut rejected as *mut Vec<(u64, String)>).cast())
        } else {
            Rejections::Unsupported
        };
        let code = consume(registry, &PLUGIN, 1, [&topic, &meta, &messages], rejections);
        (code, rejected)
    }

    #[test]
    fn given_v2_host_should_report_sink_and_decode_rejections_and_return_ok() {
        let registry = SinkRegistry::new();
        assert_eq!(
            open(&registry, &PLUGIN, 1, b"null", |_, _| Ok(Rejecter)),
            OK
        );
        let (code, rejected) =
            consume_with(&registry, &[br#"{"a":1}"#, br#""bad""#, b"{nope"], true);
        assert_eq!(code, OK);
        assert_eq!(rejected.len(), 2, "{rejected:?}");
        assert_eq!(rejected[0].0, 12);
        assert!(
            rejected[0].1.starts_with("undecodable payload: "),
            "{rejected:?}"
        );
        assert_eq!(rejected[1], (11, "bad value".to_owned()));
        let (code, rejected) = consume_with(&registry, &[br#"{"a":1}"#], true);
        assert_eq!((code, rejected.len()), (OK, 0));
        assert_eq!(close(&registry, &PLUGIN, 1), OK);
    }

    #[test]
    fn given_0_4_0_host_should_fail_a_batch_with_rejections_instead_of_dropping_them() {
        let registry = SinkRegistry::new();
        assert_eq!(
            open(&registry, &PLUGIN, 1, b"null", |_, _| Ok(Rejecter)),
            OK
        );
        assert_eq!(consume_with(&registry, &[br#""bad""#], false).0, FAILED);
        assert_eq!(consume_with(&registry, &[b"{nope"], false).0, FAILED);
        assert_eq!(consume_with(&registry, &[br#"{"a":1}"#], false).0, OK);
        assert_eq!(close(&registry, &PLUGIN, 1), OK);
    }
}
