//! SQL identifier and literal quoting. Table and column names come from config; values used as
//! cursors come from the database. Both are quoted, never pasted raw.

use std::fmt::Write;

/// Error for names that cannot be quoted safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdentifier(pub String);

impl std::fmt::Display for InvalidIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidIdentifier {}

/// Double-quotes one identifier, doubling embedded `"`. Empty names and NUL are rejected.
pub fn quote_ident(name: &str) -> Result<String, InvalidIdentifier> {
    if name.is_empty() {
        return Err(InvalidIdentifier("empty SQL identifier".into()));
    }
    if name.contains('\0') {
        return Err(InvalidIdentifier(format!(
            "SQL identifier {name:?} contains NUL"
        )));
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// Quotes a possibly schema-qualified name (`schema.table`) segment by segment, so
/// `analytics.events` means table `events` in schema `analytics` (upstream 0.4.0 quoted it as one
/// identifier, which names a table literally called `analytics.events`). A segment that is
/// already double-quoted keeps its content verbatim, which allows dots inside quoted names:
/// `"my.schema".events`.
pub fn quote_qualified(name: &str) -> Result<String, InvalidIdentifier> {
    let segments = split_qualified(name)?;
    let mut out = String::with_capacity(name.len() + 4);
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&quote_ident(segment)?);
    }
    Ok(out)
}

/// Splits `a.b` / `"a.x".b` into unquoted segments (at most 3: database.schema.table).
pub fn split_qualified(name: &str) -> Result<Vec<String>, InvalidIdentifier> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = name.trim().chars().peekable();
    let mut quoted_segment = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if current.is_empty() && !quoted_segment => {
                quoted_segment = true;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            current.push('"');
                        }
                        Some('"') => break,
                        Some(other) => current.push(other),
                        None => {
                            return Err(InvalidIdentifier(format!(
                                "unterminated quoted identifier in {name:?}"
                            )));
                        }
                    }
                }
            }
            '.' => {
                segments.push(std::mem::take(&mut current));
                quoted_segment = false;
            }
            other => {
                if quoted_segment {
                    return Err(InvalidIdentifier(format!(
                        "unexpected {other:?} after a quoted identifier in {name:?}"
                    )));
                }
                current.push(other);
            }
        }
    }
    segments.push(current);
    if segments.len() > 3 || segments.iter().any(String::is_empty) {
        return Err(InvalidIdentifier(format!("invalid table name {name:?}")));
    }
    Ok(segments)
}

/// A single-quoted SQL string literal with `'` doubled. Sessions run with
/// `standard_conforming_strings = on` (set by the pool), so backslashes are literal. The literal
/// is untyped, so PostgreSQL coerces it to the column type it is compared with (integer,
/// timestamp, text...), unlike upstream's bare numbers which fail against a text column.
pub fn quote_literal(value: &str) -> Result<String, InvalidIdentifier> {
    if value.contains('\0') {
        return Err(InvalidIdentifier(format!(
            "SQL literal {value:?} contains NUL"
        )));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

/// Appends `'v1', 'v2', ...` for an `IN (...)` list.
pub fn push_literal_list(out: &mut String, values: &[String]) -> Result<(), InvalidIdentifier> {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}", quote_literal(value)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_names_when_quoted_should_escape_and_split_per_segment() {
        assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
        assert!(quote_ident("").is_err());
        assert!(quote_ident("a\0").is_err());
        assert_eq!(quote_qualified("users").unwrap(), "\"users\"");
        assert_eq!(
            quote_qualified("analytics.events").unwrap(),
            "\"analytics\".\"events\""
        );
        assert_eq!(
            quote_qualified("\"my.schema\".Ev").unwrap(),
            "\"my.schema\".\"Ev\""
        );
        assert_eq!(quote_qualified("\"a\"\"b\"").unwrap(), "\"a\"\"b\"");
        assert!(quote_qualified("a..b").is_err());
        assert!(quote_qualified("a.b.c.d").is_err());
        assert!(quote_qualified("\"open").is_err());
    }

    #[test]
    fn given_values_when_quoted_as_literals_should_double_single_quotes() {
        assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
        assert_eq!(quote_literal("a\\b").unwrap(), "'a\\b'");
        let mut out = String::new();
        push_literal_list(&mut out, &["1".into(), "x'y".into()]).unwrap();
        assert_eq!(out, "'1', 'x''y'");
    }
}
