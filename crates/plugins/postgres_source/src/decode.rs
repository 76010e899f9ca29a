//! Column values (PostgreSQL binary wire format) → JSON text, written straight into the message
//! buffer: no `serde_json::Value` per cell. The mapping (documented in the README):
//! integers/oid → number; float → number (NaN/±Infinity → null, as JSON has no such numbers);
//! numeric → exact decimal **string**; bool; text types → string; bytea → base64 string;
//! uuid → string; json/jsonb → embedded JSON; date/time/timetz/timestamp/interval → PostgreSQL's
//! ISO text; timestamptz → RFC 3339 in UTC; arrays → JSON arrays; NULL → null. Types without a
//! decoder here are selected as `::text` by the query builder (see [`Kind::CastText`]).

use std::fmt::Write as _;

use base64::Engine as _;
use tokio_postgres::types::{FromSql, Kind as PgKind, Type};

/// How one result column is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Bytea,
    Uuid,
    Json,
    Jsonb,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Array(Box<Kind>),
    /// No binary decoder: the query selects `col::text` (or `col::text[]` for arrays) instead.
    CastText,
}

impl Kind {
    /// The decoder for a column of type `ty`. Domains use their base type (same wire format);
    /// enums are sent as their label.
    pub fn of(ty: &Type) -> Kind {
        match *ty {
            Type::BOOL => Kind::Bool,
            Type::INT2 => Kind::Int2,
            Type::INT4 => Kind::Int4,
            Type::INT8 => Kind::Int8,
            Type::OID | Type::XID | Type::CID | Type::REGCLASS | Type::REGPROC | Type::REGTYPE => {
                Kind::Oid
            }
            Type::FLOAT4 => Kind::Float4,
            Type::FLOAT8 => Kind::Float8,
            Type::NUMERIC => Kind::Numeric,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Kind::Text,
            Type::BYTEA => Kind::Bytea,
            Type::UUID => Kind::Uuid,
            Type::JSON => Kind::Json,
            Type::JSONB => Kind::Jsonb,
            Type::DATE => Kind::Date,
            Type::TIME => Kind::Time,
            Type::TIMETZ => Kind::TimeTz,
            Type::TIMESTAMP => Kind::Timestamp,
            Type::TIMESTAMPTZ => Kind::TimestampTz,
            Type::INTERVAL => Kind::Interval,
            _ => match ty.kind() {
                PgKind::Enum(_) => Kind::Text,
                PgKind::Domain(base) => Kind::of(base),
                PgKind::Array(element) => match Kind::of(element) {
                    Kind::CastText | Kind::Array(_) => Kind::CastText,
                    element => Kind::Array(Box::new(element)),
                },
                _ => Kind::CastText,
            },
        }
    }

    /// The decoder used after the `::text` cast.
    pub fn after_cast(ty: &Type) -> Kind {
        match ty.kind() {
            PgKind::Array(_) => Kind::Array(Box::new(Kind::Text)),
            _ => Kind::Text,
        }
    }
}

/// The raw bytes of a column (None = SQL NULL), whatever its type.
pub struct RawValue<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A value that could not be decoded (truncated or malformed wire data).
#[derive(Debug)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

fn bad(kind: &Kind, len: usize) -> DecodeError {
    DecodeError(format!("malformed {kind:?} value ({len} bytes)"))
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Writes a JSON string literal with escaping.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes `value` (None = NULL) of `kind` as JSON.
pub fn write_json(out: &mut Vec<u8>, kind: &Kind, value: Option<&[u8]>) -> Result<(), DecodeError> {
    let Some(b) = value else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    let err = || bad(kind, b.len());
    match kind {
        Kind::Bool => out.extend_from_slice(if b.first() == Some(&1) {
            b"true"
        } else {
            b"false"
        }),
        Kind::Int2 => write_num(out, be_i16(b, 0).ok_or_else(err)?),
        Kind::Int4 => write_num(out, be_i32(b, 0).ok_or_else(err)?),
        Kind::Int8 => write_num(out, be_i64(b, 0).ok_or_else(err)?),
        Kind::Oid => write_num(out, be_i32(b, 0).ok_or_else(err)? as u32),
        Kind::Float4 => {
            let v = f32::from_bits(be_i32(b, 0).ok_or_else(err)? as u32);
            // serde_json writes null for NaN/±Infinity.
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        Kind::Float8 => {
            let v = f64::from_bits(be_i64(b, 0).ok_or_else(err)? as u64);
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        Kind::Json => out.extend_from_slice(b),
        Kind::Jsonb => match b.split_first() {
            Some((1, json)) => out.extend_from_slice(json),
            _ => return Err(err()),
        },
        Kind::Array(element) => write_array(out, element, b)?,
        Kind::Text | Kind::CastText => write_json_str(out, &String::from_utf8_lossy(b)),
        other => {
            let mut text = String::new();
            write_text(&mut text, other, b).map_err(|_| err())?;
            write_json_str(out, &text);
        }
    }
    Ok(())
}

fn write_num(out: &mut Vec<u8>, n: impl serde::Serialize) {
    let _ = serde_json::to_writer(&mut *out, &n);
}

/// The value as plain text (no JSON quoting): what a cursor or a key looks like.
/// Returns None for NULL and for types that are not usable as a cursor (bool, json, arrays).
pub fn to_text(kind: &Kind, value: Option<&[u8]>) -> Option<String> {
    let b = value?;
    let mut s = String::new();
    match kind {
        Kind::Int2 => s = be_i16(b, 0)?.to_string(),
        Kind::Int4 => s = be_i32(b, 0)?.to_string(),
        Kind::Int8 => s = be_i64(b, 0)?.to_string(),
        Kind::Oid => s = (be_i32(b, 0)? as u32).to_string(),
        Kind::Float4 => s = f32::from_bits(be_i32(b, 0)? as u32).to_string(),
        Kind::Float8 => s = f64::from_bits(be_i64(b, 0)? as u64).to_string(),
        Kind::Text | Kind::CastText => s = String::from_utf8_lossy(b).into_owned(),
        Kind::Bool | Kind::Json | Kind::Jsonb | Kind::Array(_) | Kind::Bytea => return None,
        other => write_text(&mut s, other, b).ok()?,
    }
    Some(s)
}

/// 2000-01-01 (PostgreSQL's epoch) in chrono's days-from-CE numbering (0001-01-01 = 1).
const PG_EPOCH_DAYS_FROM_CE: i32 = 730_120;
const US_PER_DAY: i64 = 86_400_000_000;

/// Text forms of the scalar types that are neither numbers nor plain strings.
fn write_text(s: &mut String, kind: &Kind, b: &[u8]) -> Result<(), ()> {
    match kind {
        Kind::Numeric => write_numeric(s, b).ok_or(())?,
        Kind::Bytea => s.push_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        Kind::Uuid => {
            let bytes: [u8; 16] = b.try_into().map_err(|_| ())?;
            let _ = write!(s, "{}", uuid::Uuid::from_bytes(bytes).hyphenated());
        }
        Kind::Date => {
            let days = be_i32(b, 0).ok_or(())?;
            match days {
                i32::MAX => s.push_str("infinity"),
                i32::MIN => s.push_str("-infinity"),
                _ => {
                    let date = chrono::NaiveDate::from_num_days_from_ce_opt(
                        PG_EPOCH_DAYS_FROM_CE.checked_add(days).ok_or(())?,
                    )
                    .ok_or(())?;
                    let _ = write!(s, "{}", date.format("%Y-%m-%d"));
                }
            }
        }
        Kind::Time => write_time_of_day(s, be_i64(b, 0).ok_or(())?),
        Kind::TimeTz => {
            write_time_of_day(s, be_i64(b, 0).ok_or(())?);
            // PostgreSQL stores the zone as seconds WEST of UTC.
            let east = -be_i32(b, 8).ok_or(())?;
            let (sign, abs) = if east < 0 { ('-', -east) } else { ('+', east) };
            let _ = write!(s, "{sign}{:02}", abs / 3600);
            if abs % 3600 != 0 {
                let _ = write!(s, ":{:02}", abs % 3600 / 60);
            }
        }
        Kind::Timestamp | Kind::TimestampTz => {
            let us = be_i64(b, 0).ok_or(())?;
            match us {
                i64::MAX => s.push_str("infinity"),
                i64::MIN => s.push_str("-infinity"),
                _ => {
                    let days = us.div_euclid(US_PER_DAY);
                    let date = chrono::NaiveDate::from_num_days_from_ce_opt(
                        i32::try_from(days).map_err(|_| ())? + PG_EPOCH_DAYS_FROM_CE,
                    )
                    .ok_or(())?;
                    let sep = if *kind == Kind::TimestampTz { 'T' } else { ' ' };
                    let _ = write!(s, "{}{sep}", date.format("%Y-%m-%d"));
                    write_time_of_day(s, us.rem_euclid(US_PER_DAY));
                    if *kind == Kind::TimestampTz {
                        s.push_str("+00:00");
                    }
                }
            }
        }
        Kind::Interval => {
            let us = be_i64(b, 0).ok_or(())?;
            let days = be_i32(b, 8).ok_or(())?;
            let months = be_i32(b, 12).ok_or(())?;
            write_interval(s, months, days, us);
        }
        _ => return Err(()),
    }
    Ok(())
}

/// `HH:MM:SS[.ffffff]` with trailing fractional zeros trimmed, like PostgreSQL's output.
fn write_time_of_day(s: &mut String, us: i64) {
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    let _ = write!(
        s,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if frac != 0 {
        let digits = format!("{frac:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
}

/// PostgreSQL's default (`IntervalStyle = postgres`) text: `1 year 2 mons 3 days 04:05:06.5`.
fn write_interval(s: &mut String, months: i32, days: i32, us: i64) {
    let mut parts: Vec<String> = Vec::new();
    let (years, mons) = (months / 12, months % 12);
    let unit =
        |n: i64, one: &str, many: &str| format!("{n} {}", if n.abs() == 1 { one } else { many });
    if years != 0 {
        parts.push(unit(years.into(), "year", "years"));
    }
    if mons != 0 {
        parts.push(unit(mons.into(), "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days.into(), "day", "days"));
    }
    if us != 0 || parts.is_empty() {
        let mut t = String::new();
        if us < 0 {
            t.push('-');
        }
        write_time_of_day(&mut t, us.abs());
        parts.push(t);
    }
    s.push_str(&parts.join(" "));
}

/// NUMERIC binary: ndigits, weight, sign, dscale, then base-10000 digits. Exact decimal text.
fn write_numeric(s: &mut String, b: &[u8]) -> Option<()> {
    let ndigits = be_i16(b, 0)? as usize;
    let weight = be_i16(b, 2)? as i32;
    let sign = be_i16(b, 4)? as u16;
    let dscale = be_i16(b, 6)? as usize;
    match sign {
        0xC000 => {
            s.push_str("NaN");
            return Some(());
        }
        0xD000 => {
            s.push_str("Infinity");
            return Some(());
        }
        0xF000 => {
            s.push_str("-Infinity");
            return Some(());
        }
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(be_i16(b, 8 + 2 * i)?);
    }
    let digit = |i: i32| -> i16 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                let _ = write!(s, "{}", digit(i));
            } else {
                let _ = write!(s, "{:04}", digit(i));
            }
        }
    }
    if dscale > 0 {
        s.push('.');
        let start = s.len();
        let mut i = weight + 1;
        while s.len() - start < dscale {
            let _ = write!(s, "{:04}", digit(i));
            i += 1;
        }
        s.truncate(start + dscale);
    }
    Some(())
}

/// Array binary: ndim, has-null flag, element oid, (len, lbound) per dimension, then
/// length-prefixed elements (-1 = NULL). Written as nested JSON arrays.
fn write_array(out: &mut Vec<u8>, element: &Kind, b: &[u8]) -> Result<(), DecodeError> {
    let err = || {
        DecodeError(format!(
            "malformed array of {element:?} ({} bytes)",
            b.len()
        ))
    };
    let ndim = be_i32(b, 0).ok_or_else(err)?;
    if ndim <= 0 {
        out.extend_from_slice(b"[]");
        return Ok(());
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for d in 0..ndim as usize {
        dims.push(be_i32(b, 12 + 8 * d).ok_or_else(err)?.max(0) as usize);
    }
    let mut pos = 12 + 8 * ndim as usize;
    write_dim(out, element, b, &dims, &mut pos)
}

fn write_dim(
    out: &mut Vec<u8>,
    element: &Kind,
    b: &[u8],
    dims: &[usize],
    pos: &mut usize,
) -> Result<(), DecodeError> {
    let err = || DecodeError(format!("truncated array of {element:?}"));
    out.push(b'[');
    for i in 0..dims[0] {
        if i > 0 {
            out.push(b',');
        }
        if dims.len() > 1 {
            write_dim(out, element, b, &dims[1..], pos)?;
            continue;
        }
        let len = be_i32(b, *pos).ok_or_else(err)?;
        *pos += 4;
        if len < 0 {
            write_json(out, element, None)?;
        } else {
            let end = *pos + len as usize;
            write_json(out, element, Some(b.get(*pos..end).ok_or_else(err)?))?;
            *pos = end;
        }
    }
    out.push(b']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(kind: Kind, b: &[u8]) -> String {
        let mut out = Vec::new();
        write_json(&mut out, &kind, Some(b)).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn numeric(weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((digits.len() as i16).to_be_bytes());
        b.extend(weight.to_be_bytes());
        b.extend(sign.to_be_bytes());
        b.extend(dscale.to_be_bytes());
        for d in digits {
            b.extend(d.to_be_bytes());
        }
        b
    }

    #[test]
    fn given_numeric_wire_values_when_decoded_should_give_exact_strings() {
        assert_eq!(
            json(Kind::Numeric, &numeric(0, 0, 2, &[12, 5000])),
            "\"12.50\""
        );
        assert_eq!(
            json(Kind::Numeric, &numeric(-2, 0, 5, &[1000])),
            "\"0.00001\""
        );
        assert_eq!(
            json(Kind::Numeric, &numeric(1, 0x4000, 0, &[1, 0])),
            "\"-10000\""
        );
        assert_eq!(json(Kind::Numeric, &numeric(0, 0xC000, 0, &[])), "\"NaN\"");
        assert_eq!(json(Kind::Numeric, &numeric(0, 0, 0, &[])), "\"0\"");
    }

    #[test]
    fn given_time_values_when_decoded_should_match_postgres_text() {
        let ts = |us: i64| us.to_be_bytes().to_vec();
        assert_eq!(json(Kind::Timestamp, &ts(0)), "\"2000-01-01 00:00:00\"");
        assert_eq!(
            json(Kind::TimestampTz, &ts(-1)),
            "\"1999-12-31T23:59:59.999999+00:00\""
        );
        assert_eq!(json(Kind::Timestamp, &ts(i64::MAX)), "\"infinity\"");
        assert_eq!(json(Kind::Date, &(-1i32).to_be_bytes()), "\"1999-12-31\"");
        assert_eq!(json(Kind::Time, &ts(3_723_500_000)), "\"01:02:03.5\"");
        let mut interval = 3_600_000_000i64.to_be_bytes().to_vec();
        interval.extend(3i32.to_be_bytes());
        interval.extend(14i32.to_be_bytes());
        assert_eq!(
            json(Kind::Interval, &interval),
            "\"1 year 2 mons 3 days 01:00:00\""
        );
    }

    #[test]
    fn given_special_floats_when_decoded_should_write_null() {
        assert_eq!(
            json(Kind::Float8, &f64::NAN.to_bits().to_be_bytes()),
            "null"
        );
        assert_eq!(json(Kind::Float8, &1.5f64.to_bits().to_be_bytes()), "1.5");
        assert_eq!(json(Kind::Float4, &0.1f32.to_bits().to_be_bytes()), "0.1");
    }

    #[test]
    fn given_cursor_values_when_converted_to_text_should_be_plain() {
        assert_eq!(
            to_text(&Kind::Int8, Some(&42i64.to_be_bytes())).unwrap(),
            "42"
        );
        assert_eq!(to_text(&Kind::Text, Some(b"it's")).unwrap(), "it's");
        assert_eq!(to_text(&Kind::Int4, None), None);
        assert_eq!(to_text(&Kind::Bool, Some(&[1])), None);
    }
}
