//! Shared fixtures and settings of the engine microbenchmarks.

use std::time::Duration;

use criterion::Criterion;

/// A typical event, 198 bytes of compact JSON with 11 top-level keys.
pub const EVENT_JSON: &str = r#"{"id":1234567,"user_id":"u-000042","event":"page_view","url":"https://example.com/p/1","ts":1764086400123,"amount":19.99,"currency":"EUR","tags":["web","ad"],"meta_src":"web","meta_rev":3,"ok":true}"#;

/// Short runs: `npm run bench` runs every suite on a 2-core machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .without_plots()
}
