//! Parser for the `test_decoding` output plugin's text format:
//! `table <schema>.<name>: <OP>: [old-key: <cols> new-tuple: ]<col>[<type>]:<value> ...`.
//! Values are converted with the column type in hand, so CDC messages carry the same JSON types
//! as polling mode (numbers, exact numeric strings, bools, embedded JSON, base64 bytea,
//! RFC 3339 timestamptz).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::Operation;

/// One decoded row change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub schema: String,
    pub table: String,
    pub operation: Operation,
    /// INSERT/UPDATE: the new tuple; DELETE: the replica-identity columns.
    pub data: Map<String, Value>,
    /// UPDATE only, when PostgreSQL logged the old key (key changed, or REPLICA IDENTITY FULL).
    pub old_data: Option<Map<String, Value>>,
}

/// What a `data` line is.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// BEGIN / COMMIT / TRUNCATE / messages: nothing to emit.
    Skip,
    Change(Change),
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    /// An identifier: `"quoted ""x"""` or bare up to one of `stops`.
    fn ident(&mut self, stops: &[char]) -> Result<String, String> {
        if self.eat("\"") {
            let mut out = String::new();
            loop {
                let rest = self.rest();
                let Some(i) = rest.find('"') else {
                    return Err("unterminated quoted identifier".into());
                };
                out.push_str(&rest[..i]);
                self.pos += i + 1;
                if self.eat("\"") {
                    out.push('"');
                } else {
                    return Ok(out);
                }
            }
        }
        let rest = self.rest();
        let end = rest.find(|c| stops.contains(&c)).unwrap_or(rest.len());
        self.pos += end;
        Ok(rest[..end].to_string())
    }

    /// A value: `'quoted ''text'''` (returned unescaped, `true`) or a bare token up to a space.
    fn value(&mut self) -> Result<(String, bool), String> {
        if self.eat("'") {
            let mut out = String::new();
            loop {
                let rest = self.rest();
                let Some(i) = rest.find('\'') else {
                    return Err("unterminated quoted value".into());
                };
                out.push_str(&rest[..i]);
                self.pos += i + 1;
                if self.eat("'") {
                    out.push('\'');
                } else {
                    return Ok((out, true));
                }
            }
        }
        let rest = self.rest();
        let end = rest.find(' ').unwrap_or(rest.len());
        self.pos += end;
        Ok((rest[..end].to_string(), false))
    }
}

/// Parses one `data` column of `pg_logical_slot_peek_changes` (test_decoding). Errors name
/// the position and the column, never the line: it holds row data, which must not reach logs.
pub fn parse_line(line: &str) -> Result<Line, String> {
    let mut c = Cursor { s: line, pos: 0 };
    if !c.eat("table ") {
        return Ok(Line::Skip);
    }
    let first = c.ident(&['.', ':'])?;
    let (schema, table) = if c.eat(".") {
        (first, c.ident(&[':'])?)
    } else {
        ("public".into(), first)
    };
    if !c.eat(": ") {
        return Err(format!(
            "expected ': ' after the table name at byte {}",
            c.pos
        ));
    }
    let op = c.ident(&[':'])?;
    let operation = match op.as_str() {
        "INSERT" => Operation::Insert,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        _ => return Ok(Line::Skip), // TRUNCATE and anything newer
    };
    if !c.eat(":") {
        return Err(format!("expected ':' after {op} at byte {}", c.pos));
    }
    let mut data = Map::new();
    let mut old: Option<Map<String, Value>> = None;
    let mut into_old = false;
    loop {
        c.skip_spaces();
        if c.rest().is_empty() || c.eat("(no-tuple-data)") {
            break;
        }
        if c.eat("old-key:") {
            into_old = true;
            old = Some(Map::new());
            continue;
        }
        if c.eat("new-tuple:") {
            into_old = false;
            continue;
        }
        let name = c.ident(&['['])?;
        if !c.eat("[") {
            return Err(format!(
                "expected '[' after column {name:?} at byte {}",
                c.pos
            ));
        }
        let rest = c.rest();
        let Some(end) = rest.find("]:") else {
            return Err(format!(
                "expected ']:' after the type of column {name:?} at byte {}",
                c.pos
            ));
        };
        let type_name = &rest[..end];
        c.pos += end + 2;
        let (raw, quoted) = c.value()?;
        // An unchanged TOASTed value is not in the WAL record: leave the column out rather than
        // claim it became NULL.
        if !quoted && raw == "unchanged-toast-datum" {
            continue;
        }
        let value = convert(type_name, raw, quoted);
        match (&mut old, into_old) {
            (Some(old), true) => old.insert(name, value),
            _ => data.insert(name, value),
        };
    }
    Ok(Line::Change(Change {
        schema,
        table,
        operation,
        data,
        old_data: old,
    }))
}

/// test_decoding writes numbers and booleans bare, `null` bare, everything else quoted.
fn convert(type_name: &str, raw: String, quoted: bool) -> Value {
    if !quoted && raw == "null" {
        return Value::Null;
    }
    if type_name.ends_with("[]") {
        return Value::String(raw); // array literal, e.g. '{1,NULL,3}'
    }
    match type_name {
        "smallint" | "integer" | "bigint" | "oid" => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(raw)),
        "real" | "double precision" => match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Value::from(v),
            _ => Value::Null, // NaN / Infinity, as in polling mode
        },
        "numeric" => Value::String(raw),
        "boolean" => Value::Bool(raw == "true"),
        "json" | "jsonb" => serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
        "bytea" => match raw.strip_prefix("\\x").and_then(hex_decode) {
            Some(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            None => Value::String(raw),
        },
        "timestamp with time zone" => Value::String(timestamptz_rfc3339(&raw).unwrap_or(raw)),
        _ if quoted => Value::String(raw),
        _ => {
            if raw == "true" || raw == "false" {
                Value::Bool(raw == "true")
            } else if let Ok(i) = raw.parse::<i64>() {
                Value::from(i)
            } else {
                Value::String(raw)
            }
        }
    }
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `2024-01-15 10:30:00.5+00` (the session runs in UTC) → `2024-01-15T10:30:00.5+00:00`.
fn timestamptz_rfc3339(text: &str) -> Option<String> {
    let (date, rest) = text.split_once(' ')?;
    let zone_at = rest.rfind(['+', '-'])?;
    let (time, zone) = rest.split_at(zone_at);
    let zone = if zone.len() == 3 {
        format!("{zone}:00")
    } else {
        zone.to_string()
    };
    Some(format!("{date}T{time}{zone}"))
}

/// Matches a change against `tables`: an entry with a dot must equal `schema.table`; a bare
/// entry matches that table name in any schema. An empty list matches everything.
pub fn table_matches(tables: &[(Option<String>, String)], schema: &str, table: &str) -> bool {
    tables.is_empty()
        || tables
            .iter()
            .any(|(s, t)| t == table && s.as_deref().is_none_or(|s| s == schema))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(line: &str) -> Change {
        match parse_line(line).unwrap() {
            Line::Change(c) => c,
            Line::Skip => panic!("skipped {line}"),
        }
    }

    #[test]
    fn given_insert_line_when_parsed_should_convert_by_type() {
        let c = change(
            "table public.t: INSERT: id[integer]:1 name[text]:'a''b c' n[numeric]:12.50 \
             ts[timestamp with time zone]:'2026-11-25 15:56:45.322498+00' b[bytea]:'\\x00ff' \
             j[jsonb]:'{\"k\": [1, \"x y\"]}' arr[integer[]]:'{1,NULL,3}' \"Weird Col\"[text]:'w' \
             f[double precision]:NaN ok[boolean]:true gone[text]:null",
        );
        assert_eq!((c.schema.as_str(), c.table.as_str()), ("public", "t"));
        assert_eq!(c.operation, Operation::Insert);
        assert_eq!(
            Value::Object(c.data),
            json!({"id": 1, "name": "a'b c", "n": "12.50",
                   "ts": "2026-11-25T15:56:45.322498+00:00", "b": "AP8=",
                   "j": {"k": [1, "x y"]}, "arr": "{1,NULL,3}", "Weird Col": "w",
                   "f": null, "ok": true, "gone": null})
        );
        assert_eq!(c.old_data, None);
    }

    #[test]
    fn given_update_with_old_key_when_parsed_should_split_old_and_new() {
        let c = change(
            "table \"My Schema\".\"odd:table\": UPDATE: old-key: id[integer]:1 new-tuple: \
             id[integer]:10 body[text]:unchanged-toast-datum name[character varying]:'x'",
        );
        assert_eq!(
            (c.schema.as_str(), c.table.as_str()),
            ("My Schema", "odd:table")
        );
        assert_eq!(Value::Object(c.data), json!({"id": 10, "name": "x"}));
        assert_eq!(c.old_data.map(Value::Object), Some(json!({"id": 1})));
    }

    #[test]
    fn given_other_lines_when_parsed_should_skip_or_error() {
        assert_eq!(parse_line("BEGIN").unwrap(), Line::Skip);
        assert_eq!(parse_line("COMMIT").unwrap(), Line::Skip);
        assert_eq!(
            parse_line("table public.t: TRUNCATE: (no-flags)").unwrap(),
            Line::Skip
        );
        let d = change("table public.t: DELETE: id[integer]:10");
        assert_eq!(Value::Object(d.data), json!({"id": 10}));
        let n = change("table public.t: DELETE: (no-tuple-data)");
        assert!(n.data.is_empty());
        assert!(parse_line("table public.t: INSERT: id[integer:1").is_err());
    }

    #[test]
    fn given_table_filters_when_matching_should_honour_schema_qualification() {
        let tables = vec![
            (None, "users".to_string()),
            (Some("app".into()), "orders".into()),
        ];
        assert!(table_matches(&tables, "public", "users"));
        assert!(table_matches(&tables, "app", "orders"));
        assert!(!table_matches(&tables, "public", "orders"));
        assert!(!table_matches(&tables, "public", "other"));
        assert!(table_matches(&[], "x", "y"));
    }
}
