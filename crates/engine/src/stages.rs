//! A connector's transform stages in file order: runs of built-in transforms (one
//! [`TransformChain`] each) and external (TypeScript) transforms reached through a hook.

use std::sync::Arc;

use iggy_connectors_sdk::{Payload, codecs};

use crate::config::TransformConfig;
use crate::error::EngineError;
pub use crate::external::{
    ExternalBatch, ExternalMessage, ExternalMessages, ExternalOutput, ExternalTransform,
    OutputMessage, OutputPayload,
};
use crate::transforms::{Outcome, TransformChain, is_builtin};

pub enum Stage {
    Builtin(TransformChain),
    External(ExternalStage),
}

/// A TypeScript transform and what a throwing call means for its batch.
pub struct ExternalStage {
    pub name: String,
    pub on_error: OnError,
}

/// `on_error` of a TypeScript transform table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Default: a throw is transient; the whole batch is retried with backoff (a sink
    /// retries the transform, a source Nacks the batch) and never skipped.
    Retry,
    /// Opt-in (sinks, needs `[dead_letter]`): after a throw the batch is run again one
    /// message at a time; the messages that still throw go to the dead-letter topic, the
    /// rest continue.
    DeadLetter,
}

#[derive(Default)]
pub struct Stages {
    stages: Vec<Stage>,
    warnings: Vec<String>,
}

impl Stages {
    /// Groups consecutive built-in tables into one chain; any other type is external.
    /// Disabled tables (`enabled = false`) are skipped, external ones included.
    pub fn build(key: &str, list: &[TransformConfig]) -> Result<Self, EngineError> {
        let mut stages = Stages::default();
        let mut run: Vec<(String, serde_json::Value)> = Vec::new();
        let flush = |run: &mut Vec<(String, serde_json::Value)>,
                     stages: &mut Stages|
         -> Result<(), EngineError> {
            if run.is_empty() {
                return Ok(());
            }
            let chain = TransformChain::build(run).map_err(|error| EngineError::Config {
                key: key.to_owned(),
                message: error.to_string(),
            })?;
            run.clear();
            stages.warnings.extend(chain.warnings().iter().cloned());
            if !chain.is_empty() {
                stages.stages.push(Stage::Builtin(chain));
            }
            Ok(())
        };
        for transform in list {
            if is_builtin(&transform.kind) {
                run.push((transform.kind.clone(), transform.config.clone()));
                continue;
            }
            flush(&mut run, &mut stages)?;
            let enabled = transform
                .config
                .get("enabled")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true);
            if enabled {
                let on_error = match transform.config.get("on_error") {
                    None | Some(serde_json::Value::Null) => OnError::Retry,
                    Some(value) => match value.as_str() {
                        Some("retry") => OnError::Retry,
                        Some("dead_letter") => OnError::DeadLetter,
                        _ => {
                            return Err(EngineError::Config {
                                key: key.to_owned(),
                                message: format!(
                                    "transforms.{}.on_error = {value}: expected \"retry\" or \"dead_letter\"",
                                    transform.kind
                                ),
                            });
                        }
                    },
                };
                stages.stages.push(Stage::External(ExternalStage {
                    name: transform.kind.clone(),
                    on_error,
                }));
            }
        }
        flush(&mut run, &mut stages)?;
        Ok(stages)
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The TypeScript transforms that route failing messages to the dead-letter topic.
    pub fn dead_lettering(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().filter_map(|stage| match stage {
            Stage::External(external) if external.on_error == OnError::DeadLetter => {
                Some(external.name.as_str())
            }
            _ => None,
        })
    }
}

/// Applies a built-in chain; JSON objects only, everything else passes (as upstream).
pub fn apply_builtin(chain: &TransformChain, payload: &mut Payload) -> Outcome {
    match payload {
        Payload::Json(value) => chain.apply(value),
        _ => Outcome::Keep,
    }
}

/// Appends the bytes an external transform sees for `payload` (JSON text for `Json`, the
/// textual rendering for `Proto`).
pub fn write_external(payload: &Payload, out: &mut Vec<u8>) -> Result<(), String> {
    match payload {
        Payload::Json(value) => serde_json::to_writer(out, value).map_err(|e| e.to_string()),
        Payload::Raw(bytes) | Payload::FlatBuffer(bytes) => {
            out.extend_from_slice(bytes);
            Ok(())
        }
        Payload::Text(text) | Payload::Proto(text) => {
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
    }
}

/// Rebuilds a payload of the same kind from bytes returned by an external transform.
pub fn from_external(kind: iggy_connectors_sdk::Schema, bytes: Vec<u8>) -> Result<Payload, String> {
    match kind {
        iggy_connectors_sdk::Schema::Proto => String::from_utf8(bytes)
            .map(Payload::Proto)
            .map_err(|e| e.to_string()),
        iggy_connectors_sdk::Schema::FlatBuffer => Ok(Payload::FlatBuffer(bytes)),
        schema => codecs::decode_owned(schema, bytes).map_err(|e| e.to_string()),
    }
}

/// Whether an external transform sees a message's wire bytes as they are (so the engine can
/// hand them over without decoding, and take returned bytes after a validity check only).
/// Not for Proto (transforms see its textual rendering) nor FlatBuffer (returned bytes are
/// taken unchecked there, as before).
pub fn external_sees_wire_bytes(schema: iggy_connectors_sdk::Schema) -> bool {
    use iggy_connectors_sdk::Schema;
    matches!(schema, Schema::Json | Schema::Raw | Schema::Text)
}

/// Shared handle on the optional external hook.
pub type ExternalHook = Arc<dyn ExternalTransform>;
