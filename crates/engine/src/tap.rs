//! The live tap: copies of the messages passing through a running connector, before or after
//! its transforms, for whoever listens (`iggy-connectors tap`, the SSE endpoint).
//!
//! Cost when nobody listens: one relaxed atomic load per batch and stage ([`Tap::active`]); no
//! copy, no lock, no JavaScript. A listener gets copies through a bounded channel: a listener
//! that reads too slowly loses messages (counted in [`TapSubscription::dropped`]), it never
//! slows the pipeline.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use iggy::prelude::{IggyMessage, PolledMessages};

use crate::config::SourceStreamConfig;

use crate::error::Result;
use crate::runtime::Engine;
use crate::stats::ConnectorKind;

/// Where in the pipeline a listener looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapStage {
    /// As polled from Iggy (sinks) or produced by the plugin (sources).
    Before,
    /// After every transform: what the sink plugin receives or what goes to Iggy.
    After,
}

impl TapStage {
    pub fn parse(stage: &str) -> Option<Self> {
        match stage {
            "before" => Some(Self::Before),
            "after" => Some(Self::After),
            _ => None,
        }
    }
}

/// One tapped message (a copy).
#[derive(Debug, Clone, PartialEq)]
pub struct TapMessage {
    pub stream: String,
    pub topic: String,
    /// Sinks: the partition it was polled from.
    pub partition: Option<u32>,
    /// Sinks: its offset in that partition.
    pub offset: Option<u64>,
    pub id: u128,
    pub payload: Vec<u8>,
}

/// Messages buffered per listener before the tap drops for it.
const BUFFER: usize = 10_000;

struct Listener {
    id: u64,
    stage: TapStage,
    tx: flume::Sender<TapMessage>,
    dropped: Arc<AtomicU64>,
}

/// The tap of one connector (lives as long as its stats, so it survives restarts).
#[derive(Default)]
pub struct Tap {
    /// Listeners per stage: `[before, after]`; read on the hot path.
    listening: [AtomicUsize; 2],
    listeners: Mutex<Vec<Listener>>,
    next_id: AtomicU64,
}

fn slot(stage: TapStage) -> usize {
    match stage {
        TapStage::Before => 0,
        TapStage::After => 1,
    }
}

impl Tap {
    /// True when someone listens at `stage`: the only work the pipeline does otherwise.
    #[inline]
    pub fn active(&self, stage: TapStage) -> bool {
        self.listening[slot(stage)].load(Ordering::Relaxed) > 0
    }

    /// Copies the messages `build` yields to every listener of `stage`; a no-op (without
    /// calling `build`) when nobody listens.
    #[inline]
    pub fn publish<I: IntoIterator<Item = TapMessage>>(
        &self,
        stage: TapStage,
        build: impl FnOnce() -> I,
    ) {
        if self.active(stage) {
            self.send(stage, build());
        }
    }

    #[cold]
    fn send(&self, stage: TapStage, messages: impl IntoIterator<Item = TapMessage>) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        for message in messages {
            for listener in listeners.iter().filter(|l| l.stage == stage) {
                if listener.tx.try_send(message.clone()).is_err() {
                    listener.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Listeners whose receiver is gone without an unsubscribe (a dropped subscription
        // always unsubscribes; this is belt and braces).
        let before = listeners.len();
        listeners.retain(|l| !l.tx.is_disconnected());
        if listeners.len() != before {
            self.recount(&listeners);
        }
    }

    fn recount(&self, listeners: &[Listener]) {
        for stage in [TapStage::Before, TapStage::After] {
            let n = listeners.iter().filter(|l| l.stage == stage).count();
            self.listening[slot(stage)].store(n, Ordering::Relaxed);
        }
    }

    /// Starts listening at `stage`; dropping the subscription stops it.
    pub fn subscribe(self: &Arc<Self>, stage: TapStage) -> TapSubscription {
        let (tx, rx) = flume::bounded(BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        listeners.push(Listener {
            id,
            stage,
            tx,
            dropped: dropped.clone(),
        });
        self.recount(&listeners);
        TapSubscription {
            tap: self.clone(),
            id,
            rx,
            dropped,
        }
    }

    fn unsubscribe(&self, id: u64) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        listeners.retain(|l| l.id != id);
        self.recount(&listeners);
    }
}

/// One listener. Dropping it unsubscribes.
pub struct TapSubscription {
    tap: Arc<Tap>,
    id: u64,
    rx: flume::Receiver<TapMessage>,
    dropped: Arc<AtomicU64>,
}

impl TapSubscription {
    /// Waits for the next message, then takes up to `max` that are buffered.
    pub async fn next(&self, max: usize) -> Vec<TapMessage> {
        let Ok(first) = self.rx.recv_async().await else {
            return Vec::new();
        };
        let mut out = vec![first];
        while out.len() < max.max(1) {
            match self.rx.try_recv() {
                Ok(message) => out.push(message),
                Err(_) => break,
            }
        }
        out
    }

    /// Messages lost because this listener read too slowly.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for TapSubscription {
    fn drop(&mut self) {
        self.tap.unsubscribe(self.id);
    }
}

/// Copies of the picked messages of a polled batch: `(index, payload after transforms, or
/// None for the polled payload)`.
pub(crate) fn polled<'a>(
    stream: &str,
    topic: &str,
    polled: &'a PolledMessages,
    picked: impl Iterator<Item = (usize, Option<&'a [u8]>)>,
) -> Vec<TapMessage> {
    picked
        .map(|(index, payload)| {
            let message = &polled.messages[index];
            TapMessage {
                stream: stream.to_owned(),
                topic: topic.to_owned(),
                partition: Some(polled.partition_id),
                offset: Some(message.header.offset),
                id: message.header.id,
                payload: payload.unwrap_or(&message.payload).to_vec(),
            }
        })
        .collect()
}

/// Copies of what a source plugin produced (before transforms), labelled with the source's
/// first stream and topic (a batch goes to every configured stream).
pub(crate) fn source_produced<'a>(
    streams: &[SourceStreamConfig],
    messages: impl Iterator<Item = (Option<u128>, &'a [u8])>,
) -> Vec<TapMessage> {
    let (stream, topic) = streams
        .first()
        .map_or(("", ""), |s| (s.stream.as_str(), s.topic.as_str()));
    messages
        .map(|(id, payload)| TapMessage {
            stream: stream.to_owned(),
            topic: topic.to_owned(),
            partition: None,
            offset: None,
            id: id.unwrap_or(0),
            payload: payload.to_vec(),
        })
        .collect()
}

/// Copies of what a source sends to Iggy, per configured stream (after transforms).
pub(crate) fn source_sent(
    streams: &[SourceStreamConfig],
    per_stream: &[Vec<IggyMessage>],
) -> Vec<TapMessage> {
    streams
        .iter()
        .zip(per_stream)
        .flat_map(|(config, messages)| {
            messages.iter().map(|m| TapMessage {
                stream: config.stream.clone(),
                topic: config.topic.clone(),
                partition: None,
                offset: None,
                id: m.header.id,
                payload: m.payload.to_vec(),
            })
        })
        .collect()
}

impl Engine {
    /// Starts listening to a connector's messages at `stage` (it need not be running yet;
    /// the subscription outlives restarts).
    pub fn tap(&self, kind: ConnectorKind, key: &str, stage: TapStage) -> Result<TapSubscription> {
        Ok(self.connector_state(kind, key)?.tap.subscribe(stage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> TapMessage {
        TapMessage {
            stream: "s".into(),
            topic: "t".into(),
            partition: Some(0),
            offset: Some(n as u64),
            id: n as u128,
            payload: vec![n],
        }
    }

    #[test]
    fn given_no_listener_should_not_build_the_copies() {
        let tap = Tap::default();
        let mut built = false;
        tap.publish(TapStage::Before, || {
            built = true;
            vec![message(1)]
        });
        assert!(!built);
    }

    #[tokio::test]
    async fn given_listener_per_stage_should_get_only_its_stage_and_stop_on_drop() {
        let tap = Arc::new(Tap::default());
        let before = tap.subscribe(TapStage::Before);
        assert!(tap.active(TapStage::Before));
        assert!(!tap.active(TapStage::After));
        tap.publish(TapStage::After, || vec![message(9)]);
        tap.publish(TapStage::Before, || vec![message(1), message(2)]);
        let got = before.next(10).await;
        assert_eq!(got, vec![message(1), message(2)]);
        drop(before);
        assert!(!tap.active(TapStage::Before));
    }

    #[test]
    fn given_slow_listener_should_drop_and_count_not_block() {
        let tap = Arc::new(Tap::default());
        let sub = tap.subscribe(TapStage::After);
        tap.publish(TapStage::After, || (0..BUFFER + 5).map(|_| message(0)));
        assert_eq!(sub.dropped(), 5);
    }
}
