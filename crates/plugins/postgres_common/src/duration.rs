//! humantime duration keys (`poll_interval`, `retry_delay`).

use std::time::Duration;

/// Parses a humantime string (`"100ms"`, `"1s"`, `"5m"`). Upstream silently falls back to the
/// default on a typo; we fall back too (a config typo must not stop a running pipeline) but warn,
/// naming the key, so the operator sees why the interval is not the one they wrote.
pub fn parse_or_default(key: &str, value: Option<&str>, default: Duration) -> Duration {
    match value.map(str::trim) {
        None | Some("") => default,
        Some(text) => match humantime::parse_duration(text) {
            Ok(duration) => duration,
            Err(error) => {
                tracing::warn!(
                    "plugin_config.{key} = {text:?} is not a duration ({error}); using {}",
                    humantime::format_duration(default)
                );
                default
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_valid_and_invalid_values_when_parsed_should_use_value_or_default() {
        let default = Duration::from_secs(10);
        assert_eq!(
            parse_or_default("k", Some("250ms"), default),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_or_default("k", Some("2m"), default),
            Duration::from_secs(120)
        );
        assert_eq!(parse_or_default("k", Some("soon"), default), default);
        assert_eq!(parse_or_default("k", None, default), default);
    }
}
