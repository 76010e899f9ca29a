//! stdout_sink plugin.
