//! Request bodies that carry several JSON documents, and cutting a batch into consecutive
//! chunks whose bodies each fit a byte limit (and an optional document count).
//!
//! Upstream sinks built one body per batch and, when it was over the limit, sent nothing and
//! lost the batch. Cutting it is always possible, except for a document too big on its own:
//! callers refuse those first ([`Framing::single_size`] > limit).

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One document per line, each line ending in `\n` (the last one too).
    Ndjson,
    /// `[doc,doc,…]`.
    JsonArray,
    /// The document alone (one request per document).
    Single,
}

impl Framing {
    /// The body size of `doc` sent alone.
    pub fn single_size(self, doc: &[u8]) -> usize {
        match self {
            Framing::Ndjson => doc.len() + 1,
            Framing::JsonArray => doc.len() + 2,
            Framing::Single => doc.len(),
        }
    }

    /// The body carrying `docs[range]`.
    pub fn body(self, docs: &[Vec<u8>], range: Range<usize>) -> Bytes {
        let docs = &docs[range];
        if self == Framing::Single {
            return docs
                .first()
                .map(|d| Bytes::copy_from_slice(d))
                .unwrap_or_default();
        }
        let size: usize = docs.iter().map(|d| d.len() + 1).sum::<usize>() + 1;
        let mut body = BytesMut::with_capacity(size);
        if self == Framing::JsonArray {
            body.put_u8(b'[');
            for (i, doc) in docs.iter().enumerate() {
                if i > 0 {
                    body.put_u8(b',');
                }
                body.put_slice(doc);
            }
            body.put_u8(b']');
        } else {
            for doc in docs {
                body.put_slice(doc);
                body.put_u8(b'\n');
            }
        }
        body.freeze()
    }

    /// Consecutive ranges covering `docs`, each with at most `max_docs` documents (0 = no
    /// count limit) and a body of at most `max_bytes` (0 = no size limit). `Single` gives one
    /// range per document. Every document must fit alone.
    pub fn chunks(self, docs: &[Vec<u8>], max_docs: usize, max_bytes: u64) -> Vec<Range<usize>> {
        if self == Framing::Single {
            return (0..docs.len()).map(|i| i..i + 1).collect();
        }
        let max_bytes = if max_bytes == 0 {
            usize::MAX
        } else {
            max_bytes as usize
        };
        let max_docs = if max_docs == 0 { usize::MAX } else { max_docs };
        let mut ranges = Vec::new();
        let mut start = 0;
        let mut size = 0;
        for (i, doc) in docs.iter().enumerate() {
            // What adding `doc` costs: its line and `\n`, or a `,` and the doc in an array.
            let cost = if i == start {
                self.single_size(doc)
            } else {
                doc.len() + 1
            };
            if i > start && (size + cost > max_bytes || i - start >= max_docs) {
                ranges.push(start..i);
                start = i;
                size = self.single_size(doc);
            } else {
                size += cost;
            }
        }
        if start < docs.len() {
            ranges.push(start..docs.len());
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_docs_when_framed_should_write_ndjson_with_trailing_newline_or_an_array() {
        let d = vec![b"{\"a\":1}".to_vec(), b"2".to_vec()];
        assert_eq!(&Framing::Ndjson.body(&d, 0..2)[..], b"{\"a\":1}\n2\n");
        assert_eq!(&Framing::JsonArray.body(&d, 0..2)[..], b"[{\"a\":1},2]");
        assert_eq!(&Framing::JsonArray.body(&d, 1..2)[..], b"[2]");
        assert_eq!(&Framing::Single.body(&d, 1..2)[..], b"2");
    }

    #[test]
    fn given_limits_when_chunked_should_fill_each_body_greedily_within_them() {
        let d: Vec<Vec<u8>> = (0..7).map(|_| b"123".to_vec()).collect();
        for framing in [Framing::Ndjson, Framing::JsonArray] {
            for (max_docs, max_bytes) in
                [(0, 5u64), (0, 8), (0, 9), (0, 12), (0, 40), (2, 0), (3, 40)]
            {
                let ranges = framing.chunks(&d, max_docs, max_bytes);
                assert_eq!((ranges[0].start, ranges.last().unwrap().end), (0, d.len()));
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                let fits = |r: Range<usize>| {
                    (max_bytes == 0 || framing.body(&d, r.clone()).len() as u64 <= max_bytes)
                        && (max_docs == 0 || r.len() <= max_docs)
                };
                for (i, r) in ranges.iter().enumerate() {
                    assert!(fits(r.clone()), "{framing:?} {max_docs}/{max_bytes}: {r:?}");
                    if i + 1 < ranges.len() {
                        assert!(
                            !fits(r.start..r.end + 1),
                            "{framing:?} {max_docs}/{max_bytes}: {r:?} could take one more"
                        );
                    }
                }
            }
        }
        let whole = Framing::Ndjson.chunks(&d[..2], 0, 0);
        assert_eq!((whole.len(), whole[0].start, whole[0].end), (1, 0, 2));
        assert_eq!(Framing::Single.chunks(&d[..2], 0, 0), vec![0..1, 1..2]);
        assert!(Framing::Ndjson.chunks(&[], 0, 0).is_empty());
    }
}
