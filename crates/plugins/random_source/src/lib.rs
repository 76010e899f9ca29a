//! random_source plugin.
