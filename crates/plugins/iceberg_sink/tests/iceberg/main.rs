//! The Iceberg sink against the real Iceberg REST catalog and moto's S3 API, read back by
//! pyiceberg. One test binary: the catalog's port is fixed, so every test shares one catalog
//! (and the outage test takes it down alone, see `common::exclusive_catalog`).

mod common;
mod direct;
mod e2e;
