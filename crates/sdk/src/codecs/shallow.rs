//! A JSON object parsed one level deep: its top-level keys, each with its value left as the
//! JSON text it was (a slice of the payload), for hosts that edit top-level keys only (the
//! engine's built-in transforms) and need no `serde_json::Value` tree for that.
//!
//! [`ShallowObject::parse`] accepts a payload only when [`super::decode`] would decode it to
//! an object with the same keys in the same order: the values are checked with the same
//! serde_json scan the decode uses, a repeated key keeps its first position and its last value
//! (as `Value` with `preserve_order` does), and anything it cannot vouch for cheaply (not an
//! object, malformed, nested deeper than serde_json allows, more than [`MAX_KEYS`] keys) is
//! `None`, so the caller takes the full decode, which also words the error.
//!
//! [`ShallowObject::write`] writes compact JSON like `serde_json::to_vec` for the top level
//! (keys escaped the same way); values are written as the JSON text they are, so a value no
//! transform touched keeps its bytes exactly (serde_json would rewrite `1.50` as `1.5` and
//! `"\u00e9"` as `"é"`, and drop whitespace inside nested values).

use std::borrow::Cow;

use super::json::Checked;

/// Above this many keys the duplicate-key check (linear, per key) would cost more than the
/// full decode saves; such objects take the `serde_json::Value` path.
pub const MAX_KEYS: usize = 64;

/// serde_json allows 128 levels of nesting in a payload and the object itself is one; a value
/// that might reach the limit is left to the full decode, which knows exactly.
const SAFE_DEPTH: usize = 120;

/// One value as JSON text: a slice of the payload (or of a transform's pre-encoded value), or
/// text made for this message (a computed value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonText<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl JsonText<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            JsonText::Borrowed(bytes) => bytes,
            JsonText::Owned(bytes) => bytes,
        }
    }
}

/// A top-level key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    key: Cow<'a, str>,
    /// Length and first/last byte of `key`: most comparisons of two different keys end here,
    /// without a `memcmp` call.
    fingerprint: u64,
    /// Whether `key` must be escaped when written (a `"`, `\` or control byte in it).
    escape: bool,
    value: JsonText<'a>,
}

impl<'a> Field<'a> {
    fn new(key: Cow<'a, str>, escape: bool, value: JsonText<'a>) -> Self {
        Field {
            fingerprint: fingerprint(&key),
            key,
            escape,
            value,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn value(&self) -> &JsonText<'a> {
        &self.value
    }

    #[inline]
    fn is(&self, key: &str, fingerprint: u64) -> bool {
        self.fingerprint == fingerprint && *self.key == *key
    }
}

#[inline]
fn fingerprint(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let (first, last) = match bytes {
        [] => (0, 0),
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
    };
    (bytes.len() as u64) << 16 | u64::from(first) << 8 | u64::from(last)
}

/// Whether serde_json escapes something in `key`.
fn needs_escape(key: &str) -> bool {
    key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

/// A JSON object parsed one level deep (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShallowObject<'a> {
    fields: Vec<Field<'a>>,
}

impl<'a> ShallowObject<'a> {
    /// The object in `bytes`, or `None` when `bytes` is anything else or anything this parse
    /// does not vouch for (the caller then decodes in full).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        // One UTF-8 check of the whole payload (serde_json needs valid UTF-8 in every string
        // and allows no other non-ASCII byte), so keys and strings are slices of `text`.
        let text = std::str::from_utf8(bytes).ok()?;
        let mut at = skip_ws(bytes, 0);
        if bytes.get(at) != Some(&b'{') {
            return None;
        }
        let mut object = ShallowObject {
            fields: Vec::with_capacity(16),
        };
        at = skip_ws(bytes, at + 1);
        if bytes.get(at) == Some(&b'}') {
            return (skip_ws(bytes, at + 1) == bytes.len()).then_some(object);
        }
        loop {
            let (key, escape, end) = key(text, at)?;
            at = skip_ws(bytes, end);
            if bytes.get(at) != Some(&b':') {
                return None;
            }
            at = skip_ws(bytes, at + 1);
            let end = value_end(bytes, at)?;
            let value = JsonText::Borrowed(&bytes[at..end]);
            let print = fingerprint(&key);
            let count = object.fields.len();
            match object.fields.iter_mut().find(|f| f.is(&key, print)) {
                Some(field) => field.value = value,
                None if count == MAX_KEYS => return None,
                None => object.fields.push(Field {
                    key,
                    fingerprint: print,
                    escape,
                    value,
                }),
            }
            at = skip_ws(bytes, end);
            match bytes.get(at) {
                Some(b',') => at = skip_ws(bytes, at + 1),
                Some(b'}') => break,
                _ => return None,
            }
        }
        (skip_ws(bytes, at + 1) == bytes.len()).then_some(object)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The value of `key`, to replace in place (the key keeps its position).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut JsonText<'a>> {
        let i = self.position(key)?;
        Some(&mut self.fields[i].value)
    }

    /// Sets `key`: replaced in place when present, appended otherwise (as `Map::insert`).
    pub fn set(&mut self, key: &'a str, value: JsonText<'a>) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.push(key, value),
        }
    }

    /// Appends `key`, which the caller knows is absent.
    pub fn push(&mut self, key: &'a str, value: JsonText<'a>) {
        self.fields
            .push(Field::new(Cow::Borrowed(key), needs_escape(key), value));
    }

    /// Keeps the fields `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &[u8]) -> bool) {
        self.fields
            .retain(|field| keep(&field.key, field.value.as_bytes()));
    }

    /// Appends the object as compact JSON to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let size: usize = self
            .fields
            .iter()
            .map(|f| f.key.len() + f.value.as_bytes().len() + 4)
            .sum();
        out.reserve(size + 2);
        let mut open: &[u8; 2] = b"{\"";
        for field in &self.fields {
            if field.escape {
                out.push(open[0]);
                serde_json::to_writer(&mut *out, &*field.key)
                    .expect("writing a str to a Vec cannot fail");
                out.push(b':');
            } else {
                out.extend_from_slice(open);
                out.extend_from_slice(field.key.as_bytes());
                out.extend_from_slice(b"\":");
            }
            out.extend_from_slice(field.value.as_bytes());
            open = b",\"";
        }
        if self.fields.is_empty() {
            out.push(b'{');
        }
        out.push(b'}');
    }

    fn position(&self, key: &str) -> Option<usize> {
        let print = fingerprint(key);
        self.fields.iter().position(|f| f.is(key, print))
    }
}

/// The whitespace serde_json skips.
fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// The key starting at `at` (a `"`), whether it needs escaping when written, and the index
/// after its closing quote. A key without escapes is borrowed; one with escapes is decoded by
/// serde_json.
fn key(text: &str, at: usize) -> Option<(Cow<'_, str>, bool, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    match plain_string_end(bytes, at) {
        Some(end) => Some((Cow::Borrowed(&text[at + 1..end - 1]), false, end)),
        None => {
            let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter();
            let key: String = stream.next()?.ok()?;
            let escape = needs_escape(&key);
            Some((Cow::Owned(key), escape, at + stream.byte_offset()))
        }
    }
}

/// The index after the closing quote of the string at `at`, when it has no escape and no
/// control byte (the common case, checked here without serde_json); `None` otherwise.
fn plain_string_end(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at + 1..];
    let close = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    (rest[close] == b'"').then_some(at + 1 + close + 1)
}

/// The index after the value starting at `at`. Plain strings, literals and plain numbers are
/// checked here; anything else (containers, escapes, exponents) by serde_json's own scan.
fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    match *bytes.get(at)? {
        b'"' => match plain_string_end(bytes, at) {
            Some(end) => std::str::from_utf8(&bytes[at + 1..end - 1])
                .ok()
                .map(|_| end),
            None => checked_end(bytes, at),
        },
        b't' => literal_end(bytes, at, b"true"),
        b'f' => literal_end(bytes, at, b"false"),
        b'n' => literal_end(bytes, at, b"null"),
        b'-' | b'0'..=b'9' => plain_number_end(bytes, at).or_else(|| checked_end(bytes, at)),
        b'[' | b'{' => {
            let end = checked_end(bytes, at)?;
            (end - at < 2 * SAFE_DEPTH || depth(&bytes[at..end]) < SAFE_DEPTH).then_some(end)
        }
        _ => None,
    }
}

fn literal_end(bytes: &[u8], at: usize, literal: &[u8]) -> Option<usize> {
    let end = at + literal.len();
    (bytes.get(at..end) == Some(literal)).then_some(end)
}

/// An integer or decimal without exponent (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`) followed by a
/// delimiter; such a number is always in f64 range under 300 digits. `None` for anything
/// else, which serde_json then judges.
fn plain_number_end(bytes: &[u8], at: usize) -> Option<usize> {
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| from + n)
    };
    let start = at + usize::from(bytes[at] == b'-');
    let int_end = digits(start);
    let int_len = int_end - start;
    if int_len == 0 || (int_len > 1 && bytes[start] == b'0') {
        return None;
    }
    let mut end = int_end;
    if bytes.get(end) == Some(&b'.') {
        let frac_end = digits(end + 1);
        if frac_end == end + 1 {
            return None;
        }
        end = frac_end;
    }
    let delimited = matches!(
        bytes.get(end),
        Some(b',' | b'}' | b' ' | b'\n' | b'\t' | b'\r')
    );
    (delimited && end - at < 300).then_some(end)
}

/// serde_json's scan of the value at `at` (the one `codecs::validate` uses).
fn checked_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut stream = serde_json::Deserializer::from_slice(&bytes[at..]).into_iter::<Checked>();
    stream.next()?.ok()?;
    Some(at + stream.byte_offset())
}

/// The deepest nesting of brackets in a valid JSON value, strings skipped.
fn depth(value: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in value {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests;
