//! PostgreSQL sink plugin.
