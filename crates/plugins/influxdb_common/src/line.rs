//! Line-protocol escaping (InfluxDB 1.x/2.x parser rules).
//!
//! * measurement: `,` and space are escaped; tag keys/values and field keys: `,`, `=` and space;
//! * string field values: `\` and `"` are escaped; a line feed is written as is (the parser
//!   keeps it inside the quotes), so text round-trips exactly. Upstream wrote `\n`, which
//!   InfluxDB stores as a backslash and an `n`.
//!
//! The parser does not unescape `\\` in measurements or tags: backslashes are stored as written,
//! except that an odd run of them before a separator or at the end of the value would
//! swallow the separator. Such values, and line breaks in names, cannot be stored faithfully, so
//! these functions refuse them instead of writing something else.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} cannot be written as line protocol: {reason}")]
pub struct LineError {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn escape_name(
    what: &'static str,
    value: &str,
    special: &[char],
    out: &mut String,
) -> Result<(), LineError> {
    let error = |reason| LineError {
        what,
        value: value.to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(error("it is empty"));
    }
    if value.contains(['\n', '\r']) {
        return Err(error("it contains a line break"));
    }
    // The parser skips the byte after every backslash, pairing backslashes from the left. A run
    // of an odd number of them before a separator (which gets its own escaping backslash) or at
    // the end of the value would pair with that separator and cut the value short.
    let mut run = 0usize;
    for c in value.chars() {
        if special.contains(&c) {
            if run % 2 == 1 {
                return Err(error("an odd run of backslashes precedes a separator"));
            }
            out.push('\\');
        }
        run = if c == '\\' { run + 1 } else { 0 };
        out.push(c);
    }
    if run % 2 == 1 {
        return Err(error("it ends with an odd run of backslashes"));
    }
    Ok(())
}

pub fn escape_measurement(value: &str, out: &mut String) -> Result<(), LineError> {
    escape_name("measurement", value, &[',', ' '], out)
}

/// Tag keys, tag values and field keys.
pub fn escape_key(what: &'static str, value: &str, out: &mut String) -> Result<(), LineError> {
    escape_name(what, value, &[',', '=', ' '], out)
}

/// A string field value with its quotes.
pub fn write_string_field(value: &str, out: &mut String) {
    out.reserve(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// An integer field: `u` suffix where the server parses unsigned integers, else `i` (values
/// above `i64::MAX` are then bit-cast, as a PostgreSQL BIGINT column stores them).
pub fn write_uint_field(value: u64, unsigned: bool, out: &mut String) {
    if unsigned {
        let _ = write!(out, "{value}u");
    } else {
        let _ = write!(out, "{}i", value as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(v: &str) -> Result<String, LineError> {
        let mut out = String::new();
        escape_measurement(v, &mut out).map(|_| out)
    }

    fn key(v: &str) -> Result<String, LineError> {
        let mut out = String::new();
        escape_key("tag value", v, &mut out).map(|_| out)
    }

    #[test]
    fn given_awkward_names_when_escaped_should_escape_separators_only() {
        assert_eq!(measurement("cpu load,x=1").unwrap(), r"cpu\ load\,x=1");
        assert_eq!(key("a b,c=d").unwrap(), r"a\ b\,c\=d");
        assert_eq!(key(r"C:\temp").unwrap(), r"C:\temp");
        assert_eq!(key("zürich \"q\"").unwrap(), "zürich\\ \"q\"");
    }

    #[test]
    fn given_unstorable_names_when_escaped_should_refuse_with_reason() {
        assert!(key("").unwrap_err().reason.contains("empty"));
        assert!(key("a\nb").unwrap_err().reason.contains("line break"));
        assert!(key(r"ends\").unwrap_err().reason.contains("ends with"));
        assert!(key(r"a\,b").is_err());
        assert_eq!(key(r"a\\,b").unwrap(), r"a\\\,b");
        assert_eq!(key(r"a\\b\\").unwrap(), r"a\\b\\");
        assert!(
            measurement(r"a\=b").is_ok(),
            "= is not special in a measurement"
        );
    }

    #[test]
    fn given_string_values_when_written_should_escape_quote_and_backslash_and_keep_newlines() {
        let mut out = String::new();
        write_string_field("say \"hi\"\\\nnext", &mut out);
        assert_eq!(out, "\"say \\\"hi\\\"\\\\\nnext\"");
    }

    #[test]
    fn given_integers_when_written_should_use_suffix_for_server() {
        let mut out = String::new();
        write_uint_field(7, true, &mut out);
        out.push(' ');
        write_uint_field(u64::MAX, false, &mut out);
        assert_eq!(out, "7u -1i");
    }
}
