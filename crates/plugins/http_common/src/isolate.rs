//! Delivering a batch when the server may refuse some messages for their content.
//!
//! A batch request (NDJSON, JSON array...) that the server refuses with a content status
//! (400, 413, 422...) says nothing about *which* message is bad. Retrying it whole would fail
//! forever, and dropping it would lose the good messages. [`deliver`] splits a refused range in
//! halves and sends each half, recursively, until the refused messages stand alone: those are
//! reported with the server's reason, everything else is delivered. A batch with `k` bad
//! messages out of `n` costs about `2·k·log2(n)` extra requests.

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::ops::Range;

/// A message the server refused for its content: its index in the batch and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub index: usize,
    pub reason: String,
}

/// Sends `range` through `send` (which sends the items of the range it is given as one
/// request), isolating refused items as described in the module docs. Ranges are sent in
/// order. Any error `is_content_refusal` does not accept stops the delivery and is returned:
/// items before it may be stored, items after it were not attempted.
pub async fn deliver<E, S, Fut, P>(
    range: Range<usize>,
    mut send: S,
    is_content_refusal: P,
) -> Result<Vec<Refused>, E>
where
    E: Display,
    S: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    P: Fn(&E) -> bool,
{
    let mut pending = VecDeque::from([range]);
    let mut refused = Vec::new();
    while let Some(range) = pending.pop_front() {
        if range.is_empty() {
            continue;
        }
        match send(range.clone()).await {
            Ok(()) => {}
            Err(error) if is_content_refusal(&error) => {
                if range.len() == 1 {
                    refused.push(Refused {
                        index: range.start,
                        reason: error.to_string(),
                    });
                } else {
                    let middle = range.start + range.len() / 2;
                    pending.push_front(middle..range.end);
                    pending.push_front(range.start..middle);
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        bad: &[usize],
        n: usize,
        fatal_at: Option<usize>,
    ) -> (Result<Vec<usize>, String>, Vec<Range<usize>>) {
        let mut sent = Vec::new();
        let result = futures_lite_block_on(deliver(
            0..n,
            |r: Range<usize>| {
                sent.push(r.clone());
                let outcome = if fatal_at.is_some_and(|f| r.contains(&f)) {
                    Err("fatal".to_string())
                } else if bad.iter().any(|b| r.contains(b)) {
                    Err(format!("refused {r:?}"))
                } else {
                    Ok(())
                };
                std::future::ready(outcome)
            },
            |e: &String| e.starts_with("refused"),
        ));
        (
            result.map(|r| r.into_iter().map(|x| x.index).collect()),
            sent,
        )
    }

    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn given_bad_items_when_delivered_should_isolate_exactly_them_and_send_the_rest_once() {
        let (refused, sent) = run(&[3, 4, 9], 10, None);
        assert_eq!(refused.unwrap(), vec![3, 4, 9]);
        // Every good item is in exactly one accepted range.
        let mut delivered = vec![0; 10];
        for r in &sent {
            if ![3, 4, 9].iter().any(|b| r.contains(b)) {
                for i in r.clone() {
                    delivered[i] += 1;
                }
            }
        }
        assert_eq!(delivered, vec![1, 1, 1, 0, 0, 1, 1, 1, 1, 0]);
        let (refused, sent) = run(&[], 10, None);
        assert!(refused.unwrap().is_empty());
        assert_eq!(sent.len(), 1, "no refusal: one request");
        assert_eq!((sent[0].start, sent[0].end), (0, 10));
    }

    #[test]
    fn given_a_fatal_error_when_delivered_should_stop_there() {
        let (result, sent) = run(&[1], 8, Some(6));
        assert_eq!(result.unwrap_err(), "fatal");
        assert!(sent.iter().all(|r| r.start <= 6), "{sent:?}");
    }
}
