//! Shared HTTP plumbing for the HTTP-based sink plugins (`http_sink`, `quickwit_sink`; kept free
//! of anything plugin-specific so an Elasticsearch or webhook plugin can reuse it).
//!
//! * [`client::HttpClient`]: a reqwest client with per-attempt timeouts and a bounded retry
//!   loop ([`backoff::Backoff`]) on retryable statuses and transport errors.
//! * [`status`]: what a response status means for delivery (stored, retry, final).
//! * [`isolate`]: deliver a batch, splitting a refused request in halves until the messages
//!   the server refuses for their content are isolated.
//! * [`framing`]: NDJSON / JSON-array bodies, cut into chunks that fit a size limit.
//! * [`outgoing`]: a batch's documents, refused messages, and their chunked delivery; the
//!   counting and logging that ends a sink's `consume` and `close`.
//! * [`rejection`]: messages refused for their content, as reported to the engine.
//! * [`duration`]: humantime config values, with errors that name the key.
#![deny(clippy::all)]

pub mod backoff;
pub mod client;
pub mod duration;
pub mod framing;
pub mod isolate;
pub mod outgoing;
pub mod rejection;
pub mod status;

pub use backoff::Backoff;
pub use client::{ClientOptions, HttpClient, HttpRequest, HttpResponse, SendError, redact_url};
pub use framing::Framing;
pub use isolate::{Refused, deliver};
pub use outgoing::{Outgoing, log_closed};
pub use rejection::{Rejection, consume_outcome, log_rejections};
pub use status::{RETRYABLE_STATUSES, StatusClass, SuccessCodes};
