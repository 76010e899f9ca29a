//! Messages a sink could not store because of their content, reported back to the engine
//! (which dead-letters them) and logged here.

/// One refused message: its offset in the partition and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub offset: u64,
    pub reason: String,
}

/// Logs each rejection at error level with the plugin, instance, stream/topic and offset.
pub fn log_rejections(plugin: &str, id: u32, stream: &str, topic: &str, rejections: &[Rejection]) {
    for r in rejections {
        tracing::error!(
            "{plugin} {id}: {stream}/{topic} offset {} refused: {}",
            r.offset,
            r.reason
        );
    }
}
