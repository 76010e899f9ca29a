//! The source send callbacks and the registry routing plugin ids to pipelines.
//!
//! The callbacks run on plugin threads. They copy the batch into an owned buffer and push it
//! into the pipeline's bounded channel: that is all, so a plugin is never held up by Iggy
//! (except by backpressure when the pipeline is `capacity` batches behind).

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use super::plugin_bytes;

/// One batch as it left the plugin: its id (batch-result ABI only) and postcard bytes.
pub struct RawBatch {
    pub batch_id: Option<u64>,
    pub bytes: Vec<u8>,
}

static SENDERS: LazyLock<RwLock<HashMap<u32, flume::Sender<RawBatch>>>> =
    LazyLock::new(Default::default);

/// Routes batches of plugin `id` into `sender` until [`unregister`].
pub fn register(id: u32, sender: flume::Sender<RawBatch>) {
    SENDERS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, sender);
}

/// Stops routing batches of `id`; later batches are refused (v2) or dropped (0.4.0).
pub fn unregister(id: u32) {
    SENDERS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
}

fn forward(id: u32, batch_id: Option<u64>, ptr: *const u8, len: usize) -> bool {
    let sender = {
        let senders = SENDERS.read().unwrap_or_else(|p| p.into_inner());
        match senders.get(&id) {
            Some(sender) => sender.clone(),
            None => return false,
        }
    };
    // SAFETY: the ABI guarantees the buffer is valid during the callback; we copy it out.
    let bytes = unsafe { plugin_bytes(ptr, len) }.to_vec();
    // Blocking send = backpressure on the plugin's poll loop; fails only once the pipeline
    // is gone.
    sender.send(RawBatch { batch_id, bytes }).is_ok()
}

/// `SendCallback` of `iggy_source_handle` (0.4.0): nothing to return.
pub extern "C" fn send_callback(id: u32, ptr: *const u8, len: usize) {
    let _ = std::panic::catch_unwind(|| forward(id, None, ptr, len));
}

/// `SendCallback` of `iggy_source_handle_v2`: 0 = queued (the result follows through
/// `iggy_source_batch_result`), -1 = refused (treat as Nack).
pub extern "C" fn send_callback_v2(id: u32, batch_id: u64, ptr: *const u8, len: usize) -> i32 {
    match std::panic::catch_unwind(|| forward(id, Some(batch_id), ptr, len)) {
        Ok(true) => 0,
        _ => -1,
    }
}
