//! A sink batch on its way out: the serialized documents with their offsets, the messages
//! refused before sending (unencodable, or too big for one request), and the delivery of the
//! documents in chunks with the refused ones isolated ([`crate::isolate`]).

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::framing::Framing;
use crate::isolate::deliver;
use crate::rejection::{Rejection, log_rejections};

pub struct Outgoing {
    framing: Framing,
    /// Body limit in bytes, 0 = none.
    max_bytes: u64,
    offsets: Vec<u64>,
    docs: Vec<Vec<u8>>,
    rejections: Vec<Rejection>,
}

impl Outgoing {
    pub fn new(framing: Framing, max_bytes: u64, capacity: usize) -> Self {
        Self {
            framing,
            max_bytes,
            offsets: Vec::with_capacity(capacity),
            docs: Vec::with_capacity(capacity),
            rejections: Vec::new(),
        }
    }

    /// Adds the message at `offset`: its document, or why it cannot be sent. A document
    /// whose body alone is over the limit is refused (it could never be sent).
    pub fn push(&mut self, offset: u64, doc: Result<Vec<u8>, String>) {
        let reason = match doc {
            Ok(doc) => {
                let size = self.framing.single_size(&doc);
                if self.max_bytes == 0 || size as u64 <= self.max_bytes {
                    self.offsets.push(offset);
                    self.docs.push(doc);
                    return;
                }
                format!(
                    "the request body for this message alone is {size} bytes, over max_payload_size_bytes = {}",
                    self.max_bytes
                )
            }
            Err(reason) => reason,
        };
        self.rejections.push(Rejection { offset, reason });
    }

    /// Sends the documents in order, in chunks of at most `max_docs` (0 = any) that fit the
    /// byte limit, each through `send` (one request per body). A chunk refused with an error
    /// `is_content_refusal` accepts is split until the refused documents stand alone; they are
    /// added to the rejections. Any other error stops the delivery and is returned. Returns
    /// how many documents were delivered.
    pub async fn deliver<E, S, Fut, P>(
        &mut self,
        max_docs: usize,
        mut send: S,
        is_content_refusal: P,
    ) -> Result<u64, E>
    where
        E: Display,
        S: FnMut(Bytes) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        P: Fn(&E) -> bool,
    {
        let framing = self.framing;
        let mut delivered = 0;
        let mut refused_all = Vec::new();
        for range in framing.chunks(&self.docs, max_docs, self.max_bytes) {
            let docs = &self.docs;
            let refused = deliver(
                range.clone(),
                |r| send(framing.body(docs, r)),
                &is_content_refusal,
            )
            .await?;
            delivered += (range.len() - refused.len()) as u64;
            refused_all.extend(refused);
        }
        for refused in refused_all {
            self.rejections.push(Rejection {
                offset: self.offsets[refused.index],
                reason: refused.reason,
            });
        }
        Ok(delivered)
    }

    /// The refused messages, in the order they were found.
    pub fn into_rejections(self) -> Vec<Rejection> {
        self.rejections
    }

    /// The end of a sink's `consume`: the refused messages, added to the sink's `rejected`
    /// counter and logged one by one as `plugin` instance `id` on `stream`/`topic`.
    pub fn finish(
        self,
        rejected: &AtomicU64,
        plugin: &str,
        id: u32,
        stream: &str,
        topic: &str,
    ) -> Vec<Rejection> {
        let rejections = self.into_rejections();
        if !rejections.is_empty() {
            rejected.fetch_add(rejections.len() as u64, Ordering::Relaxed);
            log_rejections(plugin, id, stream, topic, &rejections);
        }
        rejections
    }
}

/// The line a sink logs in `close`: `<plugin> <id> closed: <n> <what>, …` for each counter.
pub fn log_closed(plugin: &str, id: u32, counters: &[(&AtomicU64, &str)]) {
    let counts: Vec<String> = counters
        .iter()
        .map(|(counter, what)| format!("{} {what}", counter.load(Ordering::Relaxed)))
        .collect();
    tracing::info!("{plugin} {id} closed: {}", counts.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_oversized_bad_and_refused_docs_when_delivered_should_report_each_by_offset() {
        let mut out = Outgoing::new(Framing::Ndjson, 8, 8);
        out.push(10, Ok(b"aa".to_vec()));
        out.push(11, Ok(b"too long doc".to_vec()));
        out.push(12, Err("not json".into()));
        out.push(13, Ok(b"bad".to_vec()));
        out.push(14, Ok(b"cc".to_vec()));
        let mut bodies = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let delivered = runtime
            .block_on(out.deliver(
                0,
                |body: Bytes| {
                    bodies.push(body.clone());
                    let refused = body.windows(3).any(|w| w == b"bad");
                    std::future::ready(if refused {
                        Err("refused".to_string())
                    } else {
                        Ok(())
                    })
                },
                |e: &String| e == "refused",
            ))
            .unwrap();
        assert_eq!(delivered, 2);
        let rejected: Vec<u64> = out.into_rejections().iter().map(|r| r.offset).collect();
        assert_eq!(rejected, vec![11, 12, 13]);
        assert!(bodies.iter().all(|b| b.len() <= 8));
    }
}
