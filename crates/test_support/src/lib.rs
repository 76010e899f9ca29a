//! Plumbing shared by the end-to-end tests of the workspace; a dev-dependency only, never
//! published.
//!
//! - [`artifacts`]: the paths of the plugin cdylibs and helper binaries the tests load or run,
//!   built once with the workspace's own feature resolution (see the module for why).
//! - [`pipeline`]: engine configurations joining one source and one sink through a topic.
//! - [`iggy_topics`]: a test's own Iggy client: topics created, messages sent, dead letters
//!   read back with their headers.
//! - [`sink_calls`]: configs, metadata and messages for tests that call a sink plugin directly.
//! - [`kill9`]: the runtime in its own process (`pipeline_runtime`), killed with SIGKILL at
//!   random points by the effectively-once tests.

pub mod artifacts;
pub mod iggy_topics;
pub mod kill9;
pub mod pipeline;
pub mod sink_calls;
