//! The one place where messages cross between the engine and TypeScript connectors, both ways
//! in columns (`js_batch`, the same crossing as TS transforms: one payload buffer and typed
//! arrays). A sink's batch is read through `Batch` in `ts/batch.ts`; a source's poll result is
//! written by `BatchResultBuilder` (new messages only), so no object per message crosses.

use iggy_connectors_engine::{ExternalBatch, ExternalMessage, ExternalMessages};

use crate::js_batch::{self, BatchColumns, BatchResultColumns};

/// A sink's batch for JavaScript.
pub fn sink_batch_to_js(
    key: String,
    stream: String,
    topic: String,
    messages: ExternalMessages,
) -> BatchColumns {
    js_batch::to_js(&ExternalBatch {
        connector_key: key,
        kind: "sink",
        transform: String::new(),
        stream,
        topic,
        messages,
    })
}

/// The messages a TypeScript source's `poll` produced (columns of new messages); Err names
/// the column or message that does not fit.
pub fn messages_from_js(columns: BatchResultColumns) -> Result<Vec<ExternalMessage>, String> {
    if columns.from.iter().any(|&from| from != -1) {
        return Err("a source's poll result may only hold new messages (from = -1)".to_owned());
    }
    js_batch::from_js(columns)?.resolve(&ExternalMessages::default())
}
