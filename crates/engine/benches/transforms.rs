//! Per-message cost of the built-in transforms on a ~200-byte JSON object.
//!
//! Only `apply` is timed: each iteration gets a freshly decoded object from an untimed setup
//! (decoded rather than cloned, so the map has the spare capacity a real decode leaves), so
//! the figures are ns per message for the transform alone. Batches of 16 keep the inputs warm
//! in cache, as they are in the pipeline right after decoding.

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use iggy_connectors_engine::stages;
use iggy_connectors_engine::transforms::{JsonTransform, TransformChain, build};
use iggy_connectors_sdk::{Payload, Schema, codecs};
use serde_json::{Value, json};

fn transform(transform_type: &str, config: Value) -> Box<dyn JsonTransform> {
    build(transform_type, &config)
        .expect("valid config")
        .expect("enabled")
}

fn cases() -> Vec<(&'static str, Box<dyn JsonTransform>)> {
    vec![
        (
            "add_fields/static_2",
            transform(
                "add_fields",
                json!({"enabled": true, "fields": [
                    {"key": "source", "value": {"static": "iggy"}},
                    {"key": "version", "value": {"static": 2}},
                ]}),
            ),
        ),
        (
            "add_fields/computed_date_time",
            transform(
                "add_fields",
                json!({"enabled": true, "fields": [{"key": "at", "value": {"computed": "date_time"}}]}),
            ),
        ),
        (
            "add_fields/computed_timestamp_millis",
            transform(
                "add_fields",
                json!({"enabled": true, "fields": [{"key": "at", "value": {"computed": "timestamp_millis"}}]}),
            ),
        ),
        (
            "add_fields/computed_uuid_v7",
            transform(
                "add_fields",
                json!({"enabled": true, "fields": [{"key": "uid", "value": {"computed": "uuid_v7"}}]}),
            ),
        ),
        (
            "add_fields/computed_uuid_v4",
            transform(
                "add_fields",
                json!({"enabled": true, "fields": [{"key": "uid", "value": {"computed": "uuid_v4"}}]}),
            ),
        ),
        (
            "delete_fields/2_keys",
            transform(
                "delete_fields",
                json!({"enabled": true, "fields": ["url", "tags"]}),
            ),
        ),
        (
            "filter_fields/keep_3",
            transform(
                "filter_fields",
                json!({"enabled": true, "keep_fields": ["id", "event", "ts"]}),
            ),
        ),
        (
            "filter_fields/patterns_key_regex_value",
            transform(
                "filter_fields",
                json!({"enabled": true, "keep_fields": ["id"], "patterns": [
                    {"key_pattern": {"starts_with": "meta_"}},
                    {"key_pattern": {"regex": "^(user_id|event)$"}, "value_pattern": "is_string"},
                    {"value_pattern": {"between": [10, 100]}},
                ]}),
            ),
        ),
        (
            "update_fields/3_conditions",
            transform(
                "update_fields",
                json!({"enabled": true, "fields": [
                    {"key": "event", "value": {"static": "view"}, "condition": "key_exists"},
                    {"key": "region", "value": {"static": "eu"}, "condition": "key_not_exists"},
                    {"key": "ok", "value": {"static": false}},
                ]}),
            ),
        ),
    ]
}

/// The four built-ins of the `*_transforms` end-to-end scenarios (`bench/scenario.mjs`).
fn all_four() -> TransformChain {
    TransformChain::build(&[
        (
            "add_fields".to_owned(),
            json!({"enabled": true, "fields": [{"key": "source", "value": {"static": "iggy"}}]}),
        ),
        (
            "delete_fields".to_owned(),
            json!({"enabled": true, "fields": ["url"]}),
        ),
        (
            "update_fields".to_owned(),
            json!({"enabled": true, "fields": [{"key": "ok", "value": {"static": false}}]}),
        ),
        (
            "filter_fields".to_owned(),
            json!({"enabled": true, "include_matching": false,
                "patterns": [{"key_pattern": {"starts_with": "meta_"}}]}),
        ),
    ])
    .expect("valid chain")
}

/// What a pipeline pays per message for the transform stage: payload bytes in, payload bytes
/// out (decode + the four built-ins + encode), through the `serde_json::Value` path.
fn bench_round_trip(c: &mut Criterion) {
    let bytes = common::EVENT_JSON.as_bytes();
    let chain = all_four();
    let mut group = c.benchmark_group("round_trip_200b");
    group.bench_function("value/decode_all_four_encode", |b| {
        b.iter(|| {
            let mut payload = codecs::decode(Schema::Json, black_box(bytes)).unwrap();
            if let Payload::Json(value) = &mut payload {
                chain.apply(value);
            }
            codecs::encode(Schema::Json, payload).unwrap()
        })
    });
    // The pipelines' path: one shallow parse, the chain, the object written into a buffer
    // that is reused (one per batch in the pipelines).
    let mut out = Vec::with_capacity(4096);
    group.bench_function("shallow/decode_all_four_encode", |b| {
        b.iter(|| {
            out.clear();
            stages::apply_builtin_json(&chain, black_box(bytes), &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
}

fn bench_transforms(c: &mut Criterion) {
    let event = || -> Value { serde_json::from_str(common::EVENT_JSON).expect("fixture is JSON") };
    let mut group = c.benchmark_group("transform");
    // The floor: harness and loop cost with no transform, to subtract from the others.
    group.bench_function("baseline/none", |b| {
        b.iter_batched_ref(
            event,
            |v| black_box(v.is_object()),
            BatchSize::NumIterations(16),
        )
    });
    for (name, t) in cases() {
        group.bench_function(name, |b| {
            b.iter_batched_ref(event, |v| t.apply(v), BatchSize::NumIterations(16))
        });
    }
    let chain = all_four();
    group.bench_function("chain/all_four", |b| {
        b.iter_batched_ref(event, |v| chain.apply(v), BatchSize::NumIterations(16))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_transforms, bench_round_trip
}
criterion_main!(benches);
