//! Calling a sink's consume export: `iggy_sink_consume_v2` when the library has it (rejected
//! messages come back through a callback), else the 0.4.0 `iggy_sink_consume`.

use std::ffi::c_void;
use std::sync::Mutex;

use super::{SinkConsumeFn, SinkConsumeV2Fn, plugin_bytes};

/// A message the plugin refused for its content: its offset and the plugin's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub offset: u64,
    pub reason: String,
}

/// The consume export of one sink library.
#[derive(Clone, Copy)]
pub enum ConsumeExport {
    Legacy(SinkConsumeFn),
    WithRejections(SinkConsumeV2Fn),
}

/// The three postcard buffers of one call.
pub struct ConsumeArgs<'a> {
    pub topic: &'a [u8],
    pub meta: &'a [u8],
    pub messages: &'a [u8],
}

impl ConsumeExport {
    /// Calls the export (blocking: run it on a blocking thread). Returns the plugin's code
    /// and, for a 0 from `iggy_sink_consume_v2`, what it rejected.
    ///
    /// # Safety
    /// `id` must be open in the library the export comes from.
    pub unsafe fn call(self, id: u32, args: &ConsumeArgs<'_>) -> (i32, Vec<Rejection>) {
        let ConsumeArgs {
            topic,
            meta,
            messages,
        } = args;
        match self {
            // SAFETY: the buffers outlive the call; the plugin copies what it keeps.
            ConsumeExport::Legacy(consume) => unsafe {
                let code = consume(
                    id,
                    topic.as_ptr(),
                    topic.len(),
                    meta.as_ptr(),
                    meta.len(),
                    messages.as_ptr(),
                    messages.len(),
                );
                (code, Vec::new())
            },
            ConsumeExport::WithRejections(consume) => {
                let sink = Mutex::new(Vec::new());
                let context = (&sink as *const Mutex<Vec<Rejection>>)
                    .cast_mut()
                    .cast::<c_void>();
                // SAFETY: as above; `context` points at `sink`, alive until after the call,
                // and `reject_callback` only uses it during the call (the ABI's rule).
                let code = unsafe {
                    consume(
                        id,
                        topic.as_ptr(),
                        topic.len(),
                        meta.as_ptr(),
                        meta.len(),
                        messages.as_ptr(),
                        messages.len(),
                        reject_callback,
                        context,
                    )
                };
                let rejected = sink.into_inner().unwrap_or_else(|p| p.into_inner());
                (code, rejected)
            }
        }
    }
}

/// `RejectCallback` handed to `iggy_sink_consume_v2`: records one rejected message. Runs on
/// a plugin thread; a panic (it cannot, short of OOM) must not unwind into the plugin.
pub extern "C" fn reject_callback(
    context: *mut c_void,
    offset: u64,
    reason_ptr: *const u8,
    reason_len: usize,
) {
    let _ = std::panic::catch_unwind(|| record(context, offset, reason_ptr, reason_len));
}

fn record(context: *mut c_void, offset: u64, reason_ptr: *const u8, reason_len: usize) {
    if context.is_null() {
        return;
    }
    // SAFETY: the context is the `Mutex<Vec<Rejection>>` of `ConsumeExport::call`, alive for
    // the whole consume call during which the plugin may call back.
    let sink = unsafe { &*(context as *const Mutex<Vec<Rejection>>) };
    // SAFETY: the ABI makes the reason valid during the callback; copied here.
    let reason = String::from_utf8_lossy(unsafe { plugin_bytes(reason_ptr, reason_len) });
    sink.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Rejection {
            offset,
            reason: reason.into_owned(),
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_reject_callback_should_collect_offsets_and_lossy_reasons() {
        let sink = Mutex::new(Vec::new());
        let context = (&sink as *const Mutex<Vec<Rejection>>)
            .cast_mut()
            .cast::<c_void>();
        reject_callback(context, 7, b"bad row".as_ptr(), 7);
        reject_callback(context, 9, [0xFF, b'x'].as_ptr(), 2);
        reject_callback(std::ptr::null_mut(), 1, std::ptr::null(), 0);
        reject_callback(context, 10, std::ptr::null(), 0);
        assert_eq!(
            sink.into_inner().unwrap(),
            [
                Rejection {
                    offset: 7,
                    reason: "bad row".into()
                },
                Rejection {
                    offset: 9,
                    reason: "\u{FFFD}x".into()
                },
                Rejection {
                    offset: 10,
                    reason: String::new()
                },
            ]
        );
    }
}
