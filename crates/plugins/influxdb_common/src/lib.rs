//! Shared InfluxDB plumbing of the `influxdb_sink` and `influxdb_source` plugins.
//!
//! * [`config`]: the connection keys both plugins share (upstream names and meanings), validated
//!   with errors that name the key;
//! * [`client`]: a reqwest client for the v2 HTTP API (`/health`, `/api/v2/write`,
//!   `/api/v2/query`) with bounded retries ([`retry`]) and a circuit breaker ([`breaker`]);
//! * [`line`]: line-protocol escaping that refuses what InfluxDB cannot store faithfully;
//! * [`csv`]: the annotated CSV that Flux queries return.
#![deny(clippy::all)]

pub mod breaker;
pub mod client;
pub mod config;
pub mod csv;
pub mod duration;
pub mod line;
pub mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{InfluxClient, InfluxError};
pub use config::{Connection, ConnectionKeys, PayloadFormat, Secret};
