//! Deterministic message ids: re-reading the same record yields the same id, so an idempotent
//! sink (one keyed on the message id) drops the replays a crash or a Nack causes.
//!
//! Derivation (stable across versions and platforms; changing it would re-deliver everything once
//! to sinks that deduplicate on the id, so it is versioned by the domain string):
//!
//! 1. The input is the domain (which source and which kind of key, e.g.
//!    `"postgres_source/polling/v1"`) followed by the record's identity parts, each written as
//!    one tag byte (`0` = NULL, `1` = present) and, when present, its length as a little-endian
//!    `u64` and its bytes. The framing makes `("ab", "c")` and `("a", "bc")` different inputs.
//! 2. The hash is xxh3-128 (seed 0) of that input.
//! 3. The result is shaped as a UUIDv8 (RFC 9562: version nibble `8`, variant `10`), so it
//!    renders as a valid UUID wherever an id is shown as one; 122 bits of the hash remain.

use twox_hash::XxHash3_128;

/// Builds one id from a domain and identity parts; see the crate doc for the derivation.
pub struct IdBuilder {
    hasher: XxHash3_128,
}

impl IdBuilder {
    /// Starts an id for `domain` (which source, which key kind, the derivation version).
    pub fn new(domain: &str) -> IdBuilder {
        let mut builder = IdBuilder {
            hasher: XxHash3_128::with_seed(0),
        };
        builder.part(Some(domain.as_bytes()));
        builder
    }

    /// Adds one identity part; `None` stands for SQL NULL / an absent value.
    pub fn part(&mut self, value: Option<&[u8]>) -> &mut IdBuilder {
        match value {
            None => self.hasher.write(&[0]),
            Some(bytes) => {
                self.hasher.write(&[1]);
                self.hasher.write(&(bytes.len() as u64).to_le_bytes());
                self.hasher.write(bytes);
            }
        }
        self
    }

    /// Adds a number part (its decimal text, so it equals the same number given as text).
    pub fn number(&mut self, value: u64) -> &mut IdBuilder {
        // Decimal digits without an allocation: this runs once per message on hot paths.
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = value;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.part(Some(&digits[start..]))
    }

    /// The id, as the `u128` an Iggy message header carries.
    pub fn finish(&self) -> u128 {
        as_uuid_v8(self.hasher.finish_128())
    }
}

/// Sets the UUID version (8) and variant (`10`) bits of a 128-bit hash.
pub fn as_uuid_v8(hash: u128) -> u128 {
    const VERSION_MASK: u128 = 0xF << 76;
    const VARIANT_MASK: u128 = 0b11 << 62;
    (hash & !VERSION_MASK & !VARIANT_MASK) | (0x8 << 76) | (0b10 << 62)
}

/// The id of a generated message from its sequence number (random and bench sources).
pub fn sequence_id(domain: &str, namespace: &str, sequence: u64) -> u128 {
    IdBuilder::new(domain)
        .part(Some(namespace.as_bytes()))
        .number(sequence)
        .finish()
}

/// The hyphenated lower-case UUID text of an id (`xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx`).
pub fn to_uuid_string(id: u128) -> String {
    let hex = format!("{id:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(parts: &[Option<&str>]) -> u128 {
        let mut builder = IdBuilder::new("test/v1");
        for part in parts {
            builder.part(part.map(str::as_bytes));
        }
        builder.finish()
    }

    #[test]
    fn given_the_same_identity_twice_when_hashed_should_yield_the_same_id() {
        assert_eq!(
            id(&[Some("public"), Some("t"), Some("7")]),
            id(&[Some("public"), Some("t"), Some("7")])
        );
        assert_eq!(
            sequence_id("random_source/v1", "", 41),
            sequence_id("random_source/v1", "", 41)
        );
    }

    #[test]
    fn given_different_identities_when_hashed_should_yield_different_ids() {
        let ids = [
            id(&[Some("public"), Some("t"), Some("7")]),
            id(&[Some("public"), Some("t"), Some("8")]),
            id(&[Some("public"), Some("u"), Some("7")]),
            // Framing: the split between parts matters, and NULL differs from "".
            id(&[Some("public"), Some("t7")]),
            id(&[Some("publict"), Some("7")]),
            id(&[Some("public"), Some("t"), None]),
            id(&[Some("public"), Some("t"), Some("")]),
        ];
        let unique: std::collections::HashSet<u128> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:x?}");
        let other_domain = IdBuilder::new("other/v1")
            .part(Some(b"public"))
            .part(Some(b"t"))
            .part(Some(b"7"))
            .finish();
        assert_ne!(other_domain, ids[0]);
        for n in [0, 7, 10, 12_345, u64::MAX] {
            let text = n.to_string();
            let as_text = IdBuilder::new("test/v1")
                .part(Some(text.as_bytes()))
                .finish();
            assert_eq!(IdBuilder::new("test/v1").number(n).finish(), as_text, "{n}");
        }
        let sequences: std::collections::HashSet<u128> = (0..10_000)
            .map(|n| sequence_id("bench_source/v1", "", n))
            .collect();
        assert_eq!(sequences.len(), 10_000);
        assert_ne!(
            sequence_id("bench_source/v1", "a", 1),
            sequence_id("bench_source/v1", "b", 1)
        );
    }

    #[test]
    fn given_an_id_when_rendered_should_be_a_uuid_v8() {
        let text = to_uuid_string(sequence_id("random_source/v1", "", 0));
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "8", "{text}");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
    }

    #[test]
    fn given_fixed_input_when_hashed_should_match_the_documented_derivation() {
        // Pins the derivation: a change here re-delivers every record once to id-keyed sinks.
        let mut input = Vec::new();
        for part in [&b"test/v1"[..], b"x"] {
            input.push(1);
            input.extend_from_slice(&(part.len() as u64).to_le_bytes());
            input.extend_from_slice(part);
        }
        let expected = as_uuid_v8(XxHash3_128::oneshot(&input));
        assert_eq!(id(&[Some("x")]), expected);
        assert_eq!(
            to_uuid_string(sequence_id("random_source/v1", "", 0)),
            "449239ef-b95c-8ff2-ab20-767f4ed642d3"
        );
        assert_eq!(as_uuid_v8(0), 0x0000_0000_0000_8000_8000_0000_0000_0000);
        assert_eq!(
            as_uuid_v8(u128::MAX),
            0xFFFF_FFFF_FFFF_8FFF_BFFF_FFFF_FFFF_FFFF
        );
    }
}
