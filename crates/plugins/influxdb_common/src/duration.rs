//! humantime duration keys (`retry_delay`, `timeout`, `poll_interval`, ...).

use std::time::Duration;

/// Parses `plugin_config.<key>`; absent or empty means `default`. Upstream turns a typo into
/// 1 s without a word; here it is a config error naming the key, so `open` fails visibly.
pub fn parse(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(text) => humantime::parse_duration(text).map_err(|error| {
            format!("plugin_config.{key} = {text:?} is not a duration like \"500ms\" or \"5s\" ({error})")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_values_when_parsed_should_accept_durations_and_name_the_key_on_typos() {
        let default = Duration::from_secs(3);
        assert_eq!(
            parse("k", Some("250ms"), default),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            parse("k", Some(" 2m "), default),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(parse("k", None, default), Ok(default));
        assert_eq!(parse("k", Some(""), default), Ok(default));
        let error = parse("retry_delay", Some("soon"), default).unwrap_err();
        assert!(error.contains("plugin_config.retry_delay"), "{error}");
    }
}
