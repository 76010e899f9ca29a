//! PostgreSQL source plugin.
