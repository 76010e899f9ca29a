//! Upstream's optional JSON state file (`[plugin_config.state]`): read in `open` (its fields
//! override the runtime's state, as upstream), written in `close`, in upstream's shape
//! `{"id","last_updated","version":1,"data":{…},"metadata":{…}}`. Unlike upstream, the directory
//! is created when missing and the write is atomic (temp file + rename).

use serde_json::json;

use crate::config::StateFile;
use crate::state::{SourceState, now_rfc3339};

pub fn load(file: &StateFile) -> Option<SourceState> {
    let text = match std::fs::read_to_string(&file.path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("state file {}: cannot read: {e}", file.path.display());
            return None;
        }
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!("state file {}: not JSON: {e}", file.path.display());
            return None;
        }
    };
    match serde_json::from_value(value["data"].clone()) {
        Ok(state) => Some(state),
        Err(e) => {
            tracing::warn!("state file {}: unexpected data: {e}", file.path.display());
            None
        }
    }
}

pub fn save(file: &StateFile, state: &SourceState, connector_id: u32, index: &str, url: &str) {
    let document = json!({
        "id": file.state_id,
        "last_updated": now_rfc3339(),
        "version": 1,
        "data": state,
        "metadata": {
            "connector_type": "elasticsearch_source",
            "connector_id": connector_id,
            "index": index,
            "url": url,
        },
    });
    let result = (|| {
        if let Some(dir) = file.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&document)?)?;
        std::fs::rename(&tmp, &file.path)
    })();
    if let Err(e) = result {
        tracing::warn!("state file {}: cannot write: {e}", file.path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_saved_state_file_should_load_the_same_state() {
        let dir = std::env::temp_dir().join(format!("es-state-file-{}", std::process::id()));
        let file = StateFile {
            path: dir.join("nested/es_1.json"),
            state_id: "es_1".into(),
        };
        let state = SourceState {
            last_poll_timestamp: Some("2024-01-15T10:30:00.123Z".into()),
            last_document_id: Some("d9".into()),
            total_documents_fetched: 9,
            ..SourceState::default()
        };
        save(&file, &state, 1, "docs", "http://h:9200");
        assert_eq!(load(&file), Some(state));
        let text = std::fs::read_to_string(&file.path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["metadata"]["connector_type"], "elasticsearch_source");
        let _ = std::fs::remove_dir_all(dir);
    }
}
