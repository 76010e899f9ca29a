//! MessagePack helpers for [`ConnectorState`], byte-compatible with upstream plugins.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ConnectorState, Error};

impl ConnectorState {
    /// Serializes `value` with `rmp_serde::to_vec`: structs become positional MessagePack
    /// arrays (`{messages_produced: 5}` → `[5]`), exactly as upstream's state files.
    pub fn encode<T: Serialize>(value: &T) -> Result<Self, Error> {
        rmp_serde::to_vec(value)
            .map(ConnectorState)
            .map_err(|error| Error::Serialization(format!("cannot encode state: {error}")))
    }

    /// Deserializes state written by [`ConnectorState::encode`] (or by an upstream plugin).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        rmp_serde::from_slice(&self.0)
            .map_err(|error| Error::InvalidState(format!("cannot decode state: {error}")))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}
