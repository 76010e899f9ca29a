//! Panic containment for exported functions and plugin futures.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Mutex, Once, OnceLock};
use std::task::{Context, Poll};

use tokio::runtime::Runtime;

use super::{FAILED, OK, PluginInfo, log};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static LAST_ERROR: Mutex<String> = Mutex::new(String::new());
static PANIC_HOOK: Once = Once::new();

/// This library's Tokio runtime, created on first use. Every instance of every connector in
/// the library shares it; the host's runtime (if any) is a different copy of Tokio.
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("iggy-plugin")
            .enable_all()
            .build()
            .expect("cannot start the plugin's Tokio runtime")
    })
}

/// The last error an exported function reported (also sent through the log callback).
pub fn last_error() -> String {
    LAST_ERROR
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone()
}

/// Logs an error at ERROR through the host callback and records it as the last error.
pub fn report_error(plugin: &PluginInfo, message: String) {
    let _ = log::emit(log::ERROR, plugin.name, &message);
    *LAST_ERROR
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = message;
}

/// Turns the outcome of a plugin's `close()` (run under [`CatchUnwind`]) into the export's
/// return code. As upstream, an `Err` from `close()` is only logged: the instance is gone either
/// way, so the close itself succeeded. A panic is reported and returns `FAILED`.
pub fn close_outcome(
    plugin: &PluginInfo,
    id: u32,
    call: &str,
    kind: &str,
    closed: Result<Result<(), crate::Error>, String>,
) -> i32 {
    match closed {
        Ok(Ok(())) => {
            log::emit(
                log::INFO,
                plugin.name,
                &format!("{} (id {id}): {kind} closed", plugin.name),
            );
            OK
        }
        Ok(Err(error)) => {
            report_error(
                plugin,
                format!("{} (id {id}): close() failed: {error}", plugin.name),
            );
            OK
        }
        Err(panic) => {
            report_error(
                plugin,
                format!(
                    "{} (id {id}): {call}: close() panicked: {panic}",
                    plugin.name
                ),
            );
            FAILED
        }
    }
}

/// Installs (once per library) a panic hook that sends the panic and its location to the
/// host log; only without a log callback does it defer to the previous hook (stderr). The
/// hook belongs to this library's copy of `std`, so the host process's own hook is untouched.
pub fn install_panic_hook(plugin: &'static PluginInfo) {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "unknown location".to_owned());
            let message = format!("panic at {location}: {}", panic_message(info.payload()));
            if !log::emit(log::ERROR, plugin.name, &message) {
                previous(info);
            }
        }));
    });
}

/// Runs an exported function's body; a panic becomes `on_panic` plus a logged error.
pub fn guard<R>(
    plugin: &PluginInfo,
    call: &str,
    id: u32,
    on_panic: R,
    body: impl FnOnce() -> R,
) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            report_error(
                plugin,
                format!(
                    "{} (id {id}): {call} panicked: {}",
                    plugin.name,
                    panic_message(payload.as_ref())
                ),
            );
            on_panic
        }
    }
}

pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A future that turns a panic while polling `inner` into `Err(message)`.
pub struct CatchUnwind<F>(pub F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}
