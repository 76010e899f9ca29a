//! Postcard encoding of the three `iggy_sink_consume` buffers without copying payloads:
//! borrowed mirrors of `RawMessages`/`RawMessage` whose byte fields serialize exactly like
//! the SDK's `Vec<u8>` (varint length + bytes), written into reused buffers.

use iggy_connectors_sdk::{MessagesMetadata, Schema, TopicMetadata};
use serde::{Serialize, Serializer};

/// `&[u8]` serialized as bytes (postcard: varint length + raw bytes, same as `Vec<u8>`),
/// instead of element by element.
pub struct ByteSlice<'a>(pub &'a [u8]);

impl Serialize for ByteSlice<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Field order = `RawMessage`.
#[derive(Serialize)]
pub struct RawMessageRef<'a> {
    pub id: u128,
    pub offset: u64,
    pub checksum: u64,
    pub timestamp: u64,
    pub origin_timestamp: u64,
    pub headers: ByteSlice<'a>,
    pub payload: ByteSlice<'a>,
}

/// Field order = `RawMessages`.
#[derive(Serialize)]
pub struct RawMessagesRef<'a> {
    pub schema: Schema,
    pub messages: &'a [RawMessageRef<'a>],
}

/// The three buffers of one consume call, reused from batch to batch.
#[derive(Default)]
pub struct ConsumeBuffers {
    pub topic: Vec<u8>,
    pub meta: Vec<u8>,
    pub messages: Vec<u8>,
}

impl ConsumeBuffers {
    pub fn encode(
        &mut self,
        topic: &TopicMetadata,
        meta: &MessagesMetadata,
        messages: &RawMessagesRef<'_>,
    ) -> Result<(), postcard::Error> {
        self.topic.clear();
        self.meta.clear();
        self.messages.clear();
        self.topic = postcard::to_extend(topic, std::mem::take(&mut self.topic))?;
        self.meta = postcard::to_extend(meta, std::mem::take(&mut self.meta))?;
        self.messages = postcard::to_extend(messages, std::mem::take(&mut self.messages))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_connectors_sdk::{RawMessage, RawMessages};

    #[test]
    fn given_borrowed_batch_when_encoded_should_decode_as_sdk_raw_messages() {
        let msgs = [RawMessageRef {
            id: 7,
            offset: 300,
            checksum: 1,
            timestamp: 2,
            origin_timestamp: 3,
            headers: ByteSlice(&[]),
            payload: ByteSlice(b"{\"a\":1}"),
        }];
        let mut buffers = ConsumeBuffers::default();
        let topic = TopicMetadata {
            stream: "s".into(),
            topic: "t".into(),
        };
        let meta = MessagesMetadata {
            partition_id: 1,
            current_offset: 300,
            schema: Schema::Json,
        };
        buffers
            .encode(
                &topic,
                &meta,
                &RawMessagesRef {
                    schema: Schema::Json,
                    messages: &msgs,
                },
            )
            .unwrap();
        assert_eq!(buffers.topic, [1, b's', 1, b't']);
        assert_eq!(buffers.meta, [0x01, 0xAC, 0x02, 0x00]);
        let decoded: RawMessages = postcard::from_bytes(&buffers.messages).unwrap();
        assert_eq!(
            decoded.messages,
            vec![RawMessage {
                id: 7,
                offset: 300,
                checksum: 1,
                timestamp: 2,
                origin_timestamp: 3,
                headers: vec![],
                payload: b"{\"a\":1}".to_vec(),
            }]
        );
    }
}
