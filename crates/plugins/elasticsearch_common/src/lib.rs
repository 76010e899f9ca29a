//! Code the Elasticsearch source and sink share: an HTTP client over reqwest that speaks plain
//! `application/json` (version-neutral: Elasticsearch 7.x/8.x/9.x and OpenSearch 1.x/2.x all
//! accept it, while `compatible-with` media types get 406 from 7.x and OpenSearch), basic auth,
//! TLS options, bounded retry with exponential backoff, and config helpers.
#![deny(clippy::all)]

pub mod client;
pub mod config;
pub mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{EsClient, EsError};
pub use config::ConnectionConfig;
