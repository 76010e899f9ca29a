//! An embedded Iggy broker for development and tests. It speaks the Iggy TCP binary protocol
//! well enough for the `iggy` client crate; it is not a production server.
#![deny(clippy::all)]
