//! The one error type of transform configuration.

use std::fmt;

/// A `[transforms.<type>]` table that cannot be used. Upstream aborts runtime start-up on any
/// such error ("Failed to load transforms"); we keep the same severity but say exactly which
/// transform and key are wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfigError {
    /// The transform type, e.g. `add_fields`.
    pub transform: String,
    /// The offending key as a path inside the table, e.g. `fields[0].value`; `None` when the
    /// table as a whole is wrong.
    pub key: Option<String>,
    pub message: String,
}

impl TransformConfigError {
    pub(crate) fn new(
        transform: impl Into<String>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            transform: transform.into(),
            key,
            message: message.into(),
        }
    }
}

impl fmt::Display for TransformConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(
                f,
                "transform '{}': key '{}': {}",
                self.transform, key, self.message
            ),
            None => write!(f, "transform '{}': {}", self.transform, self.message),
        }
    }
}

impl std::error::Error for TransformConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_key_when_displayed_should_name_transform_and_key() {
        let e = TransformConfigError::new(
            "add_fields",
            Some("fields[0].value".into()),
            "expected a table",
        );
        assert_eq!(
            e.to_string(),
            "transform 'add_fields': key 'fields[0].value': expected a table"
        );
    }

    #[test]
    fn given_no_key_when_displayed_should_name_transform_only() {
        let e = TransformConfigError::new("x", None, "unknown transform type");
        assert_eq!(e.to_string(), "transform 'x': unknown transform type");
    }
}
