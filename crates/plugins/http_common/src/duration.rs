//! humantime durations (`"100ms"`, `"1s"`, `"5m"`) from config values.
//!
//! Upstream plugins silently fall back to a default on a value they cannot parse; here a bad
//! value is a config error naming the key, so a typo never changes a timeout unnoticed.

use std::time::Duration;

/// Parses `value` for the config key `key` (used in the error), or returns `default` when the
/// key is absent.
pub fn parse(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, String> {
    match value.map(str::trim) {
        None => Ok(default),
        Some("0") => Ok(Duration::ZERO),
        Some(text) => humantime::parse_duration(text).map_err(|error| {
            format!("plugin_config.{key} = {text:?} is not a duration like \"500ms\" or \"30s\": {error}")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_values_when_parsed_should_read_humantime_and_name_the_key_on_error() {
        let d = Duration::from_secs(30);
        assert_eq!(parse("timeout", None, d), Ok(d));
        assert_eq!(
            parse("timeout", Some("250ms"), d),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            parse("timeout", Some(" 2m "), d),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(parse("timeout", Some("0"), d), Ok(Duration::ZERO));
        let error = parse("retry_delay", Some("soon"), d).unwrap_err();
        assert!(
            error.contains("plugin_config.retry_delay") && error.contains("soon"),
            "{error}"
        );
    }
}
