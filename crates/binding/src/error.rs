//! The binding's one error module: engine errors become napi errors whose message carries the
//! whole `source()` chain, so JavaScript sees the root cause and not only the outer context.

pub type Result<T> = napi::Result<T>;

pub fn not_implemented(what: &str) -> napi::Error {
    napi::Error::from_reason(format!("{what}: not implemented yet"))
}
