//! Bind parameters in PostgreSQL's binary format, so no value is formatted as text and parsed
//! again by the server: the u128 message id as NUMERIC, µs timestamps as TIMESTAMPTZ, and the
//! payload as BYTEA, JSONB (server-validated) or TEXT.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn Error + Sync + Send>;

/// A u128 as NUMERIC (base-10000 digits, scale 0).
#[derive(Debug)]
pub struct NumericU128(pub u128);

impl ToSql for NumericU128 {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let mut digits = [0i16; 10]; // u128 < 10^39 needs at most 10 base-10000 digits
        let mut n = self.0;
        let mut count = 0;
        while n > 0 {
            digits[count] = (n % 10_000) as i16;
            n /= 10_000;
            count += 1;
        }
        // Trailing zero digits are implied by the weight; PostgreSQL stores them stripped.
        let mut lowest = 0;
        while lowest < count && digits[lowest] == 0 {
            lowest += 1;
        }
        let ndigits = count - lowest;
        out.put_i16(ndigits as i16);
        out.put_i16(if count == 0 { 0 } else { count as i16 - 1 }); // weight
        out.put_u16(0); // sign: positive
        out.put_u16(0); // display scale
        for i in (lowest..count).rev() {
            out.put_i16(digits[i]);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

/// Microseconds since the Unix epoch as TIMESTAMPTZ (µs since 2000-01-01 on the wire).
#[derive(Debug)]
pub struct MicrosTimestamp(pub i64);

const UNIX_TO_PG_EPOCH_US: i64 = 946_684_800_000_000;

impl MicrosTimestamp {
    /// Out-of-range values fall back to now, as upstream does.
    pub fn from_unix_micros(us: u64) -> Self {
        match i64::try_from(us) {
            Ok(us) => MicrosTimestamp(us),
            Err(_) => MicrosTimestamp(now_micros()),
        }
    }
}

pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl ToSql for MicrosTimestamp {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0 - UNIX_TO_PG_EPOCH_US);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }

    to_sql_checked!();
}

/// The payload bytes for a BYTEA, JSONB or TEXT parameter. JSON is not parsed here: the server
/// validates it, and a rejected row is isolated by the row-by-row fallback.
#[derive(Debug)]
pub struct PayloadParam<'a>(pub &'a [u8]);

impl ToSql for PayloadParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.put_u8(1); // jsonb binary format version
        }
        out.put_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        // TEXT callers check UTF-8 before binding (see the sink's row validation).
        matches!(*ty, Type::BYTEA | Type::JSONB | Type::JSON | Type::TEXT)
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(n: u128) -> Vec<u8> {
        let mut out = BytesMut::new();
        NumericU128(n).to_sql(&Type::NUMERIC, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn given_u128_when_encoded_should_write_base_10000_numeric() {
        // 0: no digits
        assert_eq!(numeric(0), vec![0, 0, 0, 0, 0, 0, 0, 0]);
        // 12345678 = [1234, 5678], weight 1
        assert_eq!(
            numeric(12_345_678),
            vec![0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E]
        );
        // 10000 = [1] with weight 1 (trailing zero digit stripped)
        assert_eq!(numeric(10_000), vec![0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
        // u128::MAX has 39 decimal digits → 10 base-10000 digits, weight 9
        let max = numeric(u128::MAX);
        assert_eq!(&max[..4], &[0, 10, 0, 9]);
    }
}
