//! Generic bodies of the source exports (`iggy_source_*`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::guard::{CatchUnwind, close_outcome, panic_message, report_error, runtime};
use super::{FAILED, INVALID, OK, PluginInfo, SendCallback, SendCallbackV2, log};
use crate::{ConnectorState, ProducedMessages, Source, SourceBatchResult};

/// How often a v2 batch still waiting for its `iggy_source_batch_result` is reported at WARN.
/// It is never given up on: the host may still be retrying it (Iggy down for minutes), and
/// polling the next batch meanwhile would queue a duplicate behind it.
pub const BATCH_RESULT_WARN_INTERVAL: Duration = Duration::from_secs(30);
/// First back-off after a Nack (or a failed poll); doubles per consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Back-off ceiling.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause after a poll that produced nothing to send, so a source that returns empty batches
/// without sleeping cannot spin a core.
const EMPTY_POLL_PAUSE: Duration = Duration::from_millis(10);

/// `100 ms × 2^(n−1)`, capped at 5 s.
pub fn backoff(consecutive: u32) -> Duration {
    let shift = consecutive.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

/// The instances of one source type in this library, keyed by host-given id.
pub struct SourceRegistry<T> {
    instances: Mutex<BTreeMap<u32, Slot<T>>>,
}

enum Slot<T> {
    /// `open()` is running; the id is reserved.
    Opening,
    Idle(T),
    Running(Running<T>),
}

/// Where `iggy_source_batch_result` sends verdicts, and which batch id is in flight (0 = none).
type VerdictSender = (
    mpsc::UnboundedSender<(u64, SourceBatchResult)>,
    Arc<AtomicU64>,
);

struct Running<T> {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<T>,
    /// Present in v2 mode: verdicts for the batch in flight.
    verdicts: Option<VerdictSender>,
}

impl<T> Default for SourceRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SourceRegistry<T> {
    pub const fn new() -> Self {
        SourceRegistry {
            instances: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, Slot<T>>> {
        // A panic never happens while the lock is held by SDK code, but do not let a poisoned
        // lock turn every later call into a panic.
        self.instances
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Number of live instances (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn invalid(plugin: &PluginInfo, id: u32, call: &str, cause: impl std::fmt::Display) -> i32 {
    report_error(
        plugin,
        format!("{} (id {id}): {call}: {cause}", plugin.name),
    );
    INVALID
}

/// `iggy_source_open`: parse config, construct, `open()`, register.
pub fn open<T: Source>(
    registry: &SourceRegistry<T>,
    plugin: &'static PluginInfo,
    id: u32,
    config: &[u8],
    state: &[u8],
    construct: impl FnOnce(u32, &[u8], Option<ConnectorState>) -> Result<T, String>,
) -> i32 {
    {
        let mut instances = registry.lock();
        if instances.contains_key(&id) {
            return invalid(
                plugin,
                id,
                "iggy_source_open",
                "id is already open (close it first)",
            );
        }
        instances.insert(id, Slot::Opening);
    }
    let state = (!state.is_empty()).then(|| ConnectorState(state.to_vec()));
    // `new` is plugin code: a panic there must not leave the id reserved.
    let constructed = catch_unwind(AssertUnwindSafe(|| construct(id, config, state)));
    let mut source = match constructed {
        Ok(Ok(source)) => source,
        Ok(Err(cause)) => {
            registry.lock().remove(&id);
            return invalid(plugin, id, "iggy_source_open", cause);
        }
        Err(panic) => {
            registry.lock().remove(&id);
            report_error(
                plugin,
                format!(
                    "{} (id {id}): iggy_source_open: new() panicked: {}",
                    plugin.name,
                    panic_message(panic.as_ref())
                ),
            );
            return FAILED;
        }
    };
    let opened = runtime().block_on(CatchUnwind(source.open()));
    let failure = match opened {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(format!("open() failed: {error}")),
        Err(panic) => Some(format!("open() panicked: {panic}")),
    };
    let mut instances = registry.lock();
    if let Some(failure) = failure {
        instances.remove(&id);
        drop(instances);
        report_error(
            plugin,
            format!("{} (id {id}): iggy_source_open: {failure}", plugin.name),
        );
        return FAILED;
    }
    instances.insert(id, Slot::Idle(source));
    drop(instances);
    log::emit(
        log::INFO,
        plugin.name,
        &format!(
            "{} {} (id {id}): source opened",
            plugin.name, plugin.version
        ),
    );
    OK
}

/// How the poll loop hands batches to the host.
#[derive(Clone, Copy)]
pub enum Delivery {
    /// 0.4.0: fire and forget; a returned callback counts as Ack.
    Legacy(SendCallback),
    /// One batch in flight, settled by `iggy_source_batch_result`.
    Acknowledged(SendCallbackV2),
}

/// `iggy_source_handle` / `iggy_source_handle_v2`: start the poll loop.
pub fn handle<T: Source>(
    registry: &SourceRegistry<T>,
    plugin: &'static PluginInfo,
    id: u32,
    delivery: Delivery,
) -> i32 {
    let call = match delivery {
        Delivery::Legacy(_) => "iggy_source_handle",
        Delivery::Acknowledged(_) => "iggy_source_handle_v2",
    };
    let mut instances = registry.lock();
    let source = match instances.remove(&id) {
        Some(Slot::Idle(source)) => source,
        Some(other) => {
            instances.insert(id, other);
            drop(instances);
            return invalid(
                plugin,
                id,
                call,
                "the source is not idle (still opening, or already handled)",
            );
        }
        None => {
            drop(instances);
            return invalid(plugin, id, call, "unknown id (not opened, or closed)");
        }
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (verdicts, verdicts_rx, in_flight) = match delivery {
        Delivery::Legacy(_) => (None, None, Arc::new(AtomicU64::new(0))),
        Delivery::Acknowledged(_) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let in_flight = Arc::new(AtomicU64::new(0));
            (Some((tx, in_flight.clone())), Some(rx), in_flight)
        }
    };
    let context = LoopContext {
        plugin,
        id,
        delivery,
        shutdown: shutdown_rx,
        verdicts: verdicts_rx,
        in_flight,
    };
    let task = runtime().spawn(poll_loop(source, context));
    instances.insert(
        id,
        Slot::Running(Running {
            shutdown,
            task,
            verdicts,
        }),
    );
    OK
}

/// `iggy_source_batch_result`: settle the batch in flight. Never blocks: it takes the registry
/// lock (held only for map operations, never across a plugin call) and queues the verdict on
/// an unbounded channel, so a host may call it inline from an async task or from inside the
/// send callback.
pub fn batch_result<T>(
    registry: &SourceRegistry<T>,
    plugin: &'static PluginInfo,
    id: u32,
    batch_id: u64,
    result: u8,
) -> i32 {
    const CALL: &str = "iggy_source_batch_result";
    let Some(verdict) = SourceBatchResult::from_u8(result) else {
        return invalid(
            plugin,
            id,
            CALL,
            format!("result {result} is neither 0 (Ack) nor 1 (Nack)"),
        );
    };
    let instances = registry.lock();
    let Some(Slot::Running(Running {
        verdicts: Some((sender, in_flight)),
        ..
    })) = instances.get(&id)
    else {
        drop(instances);
        return invalid(
            plugin,
            id,
            CALL,
            "no acknowledged poll loop runs for this id",
        );
    };
    let current = in_flight.load(Ordering::Acquire);
    if current != batch_id {
        drop(instances);
        return invalid(
            plugin,
            id,
            CALL,
            format!("batch {batch_id} is not in flight (in flight: {current}, 0 = none)"),
        );
    }
    if sender.send((batch_id, verdict)).is_err() {
        drop(instances);
        return invalid(plugin, id, CALL, "the poll loop has stopped");
    }
    OK
}

/// `iggy_source_close`: stop the loop (waiting for it), then `close()`.
pub fn close<T: Source>(registry: &SourceRegistry<T>, plugin: &'static PluginInfo, id: u32) -> i32 {
    const CALL: &str = "iggy_source_close";
    let slot = {
        let mut instances = registry.lock();
        match instances.remove(&id) {
            Some(Slot::Opening) => {
                instances.insert(id, Slot::Opening);
                drop(instances);
                return invalid(plugin, id, CALL, "the source is still opening");
            }
            Some(slot) => slot,
            None => {
                drop(instances);
                return invalid(
                    plugin,
                    id,
                    CALL,
                    "unknown id (not opened, or already closed)",
                );
            }
        }
    };
    let mut source = match slot {
        Slot::Idle(source) => source,
        Slot::Running(running) => {
            let _ = running.shutdown.send(true);
            match runtime().block_on(running.task) {
                Ok(source) => source,
                Err(error) => {
                    report_error(
                        plugin,
                        format!(
                            "{} (id {id}): {CALL}: the poll loop died ({error}); close() skipped",
                            plugin.name
                        ),
                    );
                    return FAILED;
                }
            }
        }
        Slot::Opening => unreachable!("handled above"),
    };
    let closed = runtime().block_on(CatchUnwind(source.close()));
    close_outcome(plugin, id, CALL, "source", closed)
}

struct LoopContext {
    plugin: &'static PluginInfo,
    id: u32,
    delivery: Delivery,
    shutdown: watch::Receiver<bool>,
    verdicts: Option<mpsc::UnboundedReceiver<(u64, SourceBatchResult)>>,
    in_flight: Arc<AtomicU64>,
}

impl LoopContext {
    fn log(&self, level: u8, message: std::fmt::Arguments<'_>) {
        log::emit(
            level,
            self.plugin.name,
            &format!("{} (id {}): {message}", self.plugin.name, self.id),
        );
    }

    /// Sleeps unless shutdown is requested first; returns `false` on shutdown.
    async fn pause(&mut self, duration: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.wait_for(|stop| *stop) => false,
            () = tokio::time::sleep(duration) => true,
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Polls, delivers, settles, repeats, until shutdown. Returns the source for `close()`.
async fn poll_loop<T: Source>(source: T, mut cx: LoopContext) -> T {
    let mut failed_polls = 0u32;
    let mut nacks = 0u32;
    let mut batch_id = 0u64;
    while !cx.stopping() {
        let polled = tokio::select! {
            biased;
            _ = cx.shutdown.wait_for(|stop| *stop) => break,
            polled = CatchUnwind(source.poll()) => polled,
        };
        let batch = match polled {
            Ok(Ok(batch)) => batch,
            Ok(Err(error)) => {
                failed_polls += 1;
                cx.log(
                    log::ERROR,
                    format_args!("poll() failed (#{failed_polls}): {error}"),
                );
                if !cx.pause(backoff(failed_polls)).await {
                    break;
                }
                continue;
            }
            Err(panic) => {
                failed_polls += 1;
                cx.log(
                    log::ERROR,
                    format_args!("poll() panicked (#{failed_polls}): {panic}"),
                );
                if !cx.pause(backoff(failed_polls)).await {
                    break;
                }
                continue;
            }
        };
        failed_polls = 0;
        if batch.messages.is_empty() && batch.state.is_none() {
            if !cx.pause(EMPTY_POLL_PAUSE).await {
                break;
            }
            continue;
        }
        let verdict = match deliver(&mut cx, &batch, &mut batch_id).await {
            Some(verdict) => verdict,
            None => continue,
        };
        match CatchUnwind(source.on_batch_result(verdict)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => cx.log(
                log::ERROR,
                format_args!("on_batch_result({verdict:?}) failed: {error}"),
            ),
            Err(panic) => cx.log(
                log::ERROR,
                format_args!("on_batch_result({verdict:?}) panicked: {panic}"),
            ),
        }
        if verdict == SourceBatchResult::Ack {
            nacks = 0;
            continue;
        }
        // Keep retrying forever: the host expects the source to recover once Iggy is back.
        nacks += 1;
        let delay = backoff(nacks);
        cx.log(
            log::WARN,
            format_args!(
                "batch {batch_id} was not acknowledged ({nacks} in a row); retrying in {delay:?}"
            ),
        );
        if !cx.pause(delay).await {
            break;
        }
    }
    source
}

/// Sends one batch; returns its verdict, or `None` when it could not be encoded.
async fn deliver(
    cx: &mut LoopContext,
    batch: &ProducedMessages,
    batch_id: &mut u64,
) -> Option<SourceBatchResult> {
    let bytes = match postcard::to_allocvec(batch) {
        Ok(bytes) => bytes,
        Err(error) => {
            cx.log(
                log::ERROR,
                format_args!(
                    "cannot encode a batch of {} messages, skipped: {error}",
                    batch.messages.len()
                ),
            );
            return None;
        }
    };
    let id = cx.id;
    match cx.delivery {
        Delivery::Legacy(callback) => {
            // The 0.4.0 host stores the batch before returning; a returned call is our Ack.
            tokio::task::block_in_place(|| callback(id, bytes.as_ptr(), bytes.len()));
            Some(SourceBatchResult::Ack)
        }
        Delivery::Acknowledged(callback) => {
            *batch_id += 1;
            let this_batch = *batch_id;
            let verdicts = cx.verdicts.as_mut().expect("v2 loop has a verdict channel");
            while verdicts.try_recv().is_ok() {} // stale verdicts of settled batches
            cx.in_flight.store(this_batch, Ordering::Release);
            let code = tokio::task::block_in_place(|| {
                callback(id, this_batch, bytes.as_ptr(), bytes.len())
            });
            drop(bytes);
            let verdict = if code != 0 {
                cx.log(
                    log::WARN,
                    format_args!(
                        "the host refused batch {this_batch} (send callback returned {code})"
                    ),
                );
                SourceBatchResult::Nack
            } else {
                wait_for_verdict(cx, this_batch).await
            };
            cx.in_flight.store(0, Ordering::Release);
            Some(verdict)
        }
    }
}

async fn wait_for_verdict(cx: &mut LoopContext, batch: u64) -> SourceBatchResult {
    let verdicts = cx.verdicts.as_mut().expect("v2 loop has a verdict channel");
    let mut waited = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            received = verdicts.recv() => match received {
                Some((id, verdict)) if id == batch => return verdict,
                Some(_) => continue,
                None => return SourceBatchResult::Nack,
            },
            _ = cx.shutdown.wait_for(|stop| *stop) => {
                log::emit(log::DEBUG, cx.plugin.name, &format!("{} (id {}): closing with batch {batch} unsettled; treated as Nack", cx.plugin.name, cx.id));
                return SourceBatchResult::Nack;
            }
            () = tokio::time::sleep(BATCH_RESULT_WARN_INTERVAL) => {
                waited += BATCH_RESULT_WARN_INTERVAL;
                log::emit(log::WARN, cx.plugin.name, &format!("{} (id {}): no result for batch {batch} after {waited:?}; still waiting (one batch in flight at a time)", cx.plugin.name, cx.id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLUGIN: PluginInfo = PluginInfo {
        name: "test_source",
        version: "0",
    };

    extern "C" fn never_called(_: u32, _: u64, _: *const u8, _: usize) -> i32 {
        0
    }

    fn context() -> (
        LoopContext,
        watch::Sender<bool>,
        mpsc::UnboundedSender<(u64, SourceBatchResult)>,
    ) {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (verdict_tx, verdicts) = mpsc::unbounded_channel();
        let cx = LoopContext {
            plugin: &PLUGIN,
            id: 1,
            delivery: Delivery::Acknowledged(never_called),
            shutdown,
            verdicts: Some(verdicts),
            in_flight: Arc::new(AtomicU64::new(7)),
        };
        (cx, shutdown_tx, verdict_tx)
    }

    /// Item 5 of issue 15: a host that retries a batch for minutes (Iggy down) must not get
    /// a second batch queued behind it.
    #[tokio::test(start_paused = true)]
    async fn given_no_result_for_minutes_should_keep_waiting_for_the_same_batch() {
        let (mut cx, _shutdown, verdicts) = context();
        let waiting = tokio::spawn(async move { wait_for_verdict(&mut cx, 7).await });
        tokio::time::sleep(BATCH_RESULT_WARN_INTERVAL * 10).await;
        assert!(!waiting.is_finished(), "gave up on the batch in flight");
        verdicts.send((6, SourceBatchResult::Nack)).unwrap();
        verdicts.send((7, SourceBatchResult::Ack)).unwrap();
        assert_eq!(waiting.await.unwrap(), SourceBatchResult::Ack);
    }

    #[tokio::test(start_paused = true)]
    async fn given_shutdown_while_waiting_should_settle_as_nack() {
        let (mut cx, shutdown, _verdicts) = context();
        let waiting = tokio::spawn(async move { wait_for_verdict(&mut cx, 7).await });
        tokio::time::sleep(BATCH_RESULT_WARN_INTERVAL * 2).await;
        shutdown.send(true).unwrap();
        assert_eq!(waiting.await.unwrap(), SourceBatchResult::Nack);
    }
}
