//! A set of top-level keys, looked up once per payload key.

use std::collections::HashSet;

/// Up to this many keys a linear scan beats hashing every payload key with SipHash (a length
/// check rejects most candidates before any byte is compared).
const LINEAR_MAX: usize = 8;

#[derive(Debug, Clone)]
pub(crate) enum KeySet {
    Small(Vec<String>),
    Large(HashSet<String>),
}

impl KeySet {
    pub(crate) fn new(keys: Vec<String>) -> Self {
        let mut unique: Vec<String> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        if unique.len() <= LINEAR_MAX {
            KeySet::Small(unique)
        } else {
            KeySet::Large(unique.into_iter().collect())
        }
    }

    #[inline]
    pub(crate) fn contains(&self, key: &str) -> bool {
        match self {
            KeySet::Small(keys) => keys.iter().any(|k| k == key),
            KeySet::Large(keys) => keys.contains(key),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            KeySet::Small(keys) => keys.is_empty(),
            KeySet::Large(keys) => keys.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_small_and_large_sets_when_queried_should_agree() {
        for n in [0, 1, LINEAR_MAX, LINEAR_MAX + 1, 50] {
            let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let set = KeySet::new(keys.iter().cloned().chain(keys.iter().cloned()).collect());
            assert_eq!(matches!(set, KeySet::Small(_)), n <= LINEAR_MAX);
            assert_eq!(set.is_empty(), n == 0);
            for k in &keys {
                assert!(set.contains(k));
            }
            assert!(!set.contains("other"));
            assert!(!set.contains(""));
        }
    }
}
