//! Connection strings hold passwords; logs show only enough to recognise the target.

/// Upstream's redaction: scheme + the first 3 characters after it + `***`.
pub fn redact_connection_string(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let head: String = rest.chars().take(3).collect();
            format!("{scheme}://{head}***")
        }
        None => {
            let head: String = url.chars().take(3).collect();
            format!("{head}***")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_url_with_password_when_redacted_should_hide_everything_after_three_chars() {
        assert_eq!(
            redact_connection_string("postgresql://user:secret@db:5432/x"),
            "postgresql://use***"
        );
        assert_eq!(redact_connection_string("host=db password=x"), "hos***");
    }
}
