//! Cost of the per-message codecs on the sink and source paths:
//! - JSON decode + encode of a ~200-byte object: through `iggy_connectors_sdk::codecs` (what the
//!   pipelines call) and, split into its halves, serde_json itself (preserve_order);
//! - postcard encode / decode of a 1000-message `RawMessages` batch (what crosses the plugin
//!   boundary on every sink call), reported per batch; divide by 1000 for ns per message.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iggy_connectors_sdk::{RawMessage, RawMessages, Schema, codecs};
use serde_json::Value;

const BATCH: usize = 1000;

fn bench_json(c: &mut Criterion) {
    let bytes = common::EVENT_JSON.as_bytes();
    let mut group = c.benchmark_group("json_200b");
    group.throughput(Throughput::Elements(1));
    group.bench_function("serde_json/decode", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(bytes)).unwrap())
    });
    let value: Value = serde_json::from_slice(bytes).unwrap();
    group.bench_function("serde_json/encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).unwrap())
    });
    group.bench_function("serde_json/decode_encode", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(bytes)).unwrap();
            serde_json::to_vec(&v).unwrap()
        })
    });
    group.bench_function("sdk_codecs/decode_encode", |b| {
        b.iter(|| {
            let payload = codecs::decode(Schema::Json, black_box(bytes)).unwrap();
            codecs::encode(Schema::Json, payload).unwrap()
        })
    });
    group.finish();
}

fn batch() -> RawMessages {
    let payload = common::EVENT_JSON.as_bytes().to_vec();
    let messages = (0..BATCH as u64)
        .map(|i| RawMessage {
            id: u128::from(i) << 64 | 0x1234_5678,
            offset: 1_000_000 + i,
            checksum: 0x9e37_79b9_7f4a_7c15 ^ i,
            timestamp: 1_764_086_400_000_000 + i,
            origin_timestamp: 1_764_086_400_000_000 + i,
            headers: Vec::new(),
            payload: payload.clone(),
        })
        .collect();
    RawMessages {
        schema: Schema::Json,
        messages,
    }
}

fn bench_postcard(c: &mut Criterion) {
    let batch = batch();
    let encoded = postcard::to_allocvec(&batch).unwrap();
    let mut group = c.benchmark_group("postcard_raw_messages_1000");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("encode", |b| {
        b.iter(|| postcard::to_allocvec(black_box(&batch)).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| postcard::from_bytes::<RawMessages>(black_box(&encoded)).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_json, bench_postcard
}
criterion_main!(benches);
